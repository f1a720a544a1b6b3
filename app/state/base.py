"""The state store's interface: remembered exports, shared by every worker of a deployment."""

from abc import ABC, abstractmethod
from dataclasses import dataclass

IN_FLIGHT = "in_flight"  # being sent right now by the owner
DELIVERED = "delivered"  # the target answered (success or warning)
UNKNOWN = "unknown"  # the request went out and no answer came back


@dataclass(frozen=True)
class ExportRecord:
    """What is remembered of one export, keyed by its idempotency key."""

    state: str
    owner: str
    updated_at: float  # seconds since the epoch
    lease_until: float  # an in-flight record is abandoned after this (its worker died)
    answer: dict  # the hook answer's messages and operations; never a payload or a secret


@dataclass(frozen=True)
class JobRecord:
    """An export answered asynchronously (202): running until its answer is stored."""

    done: bool
    answer: dict  # messages and operations only
    answered_late: bool  # the hook call was answered 202 before the export finished
    lease_until: float  # a running job past this lost its worker


@dataclass(frozen=True)
class Claim:
    """The result of :meth:`StateStore.claim`: ours to send, or someone else's record."""

    acquired: bool
    record: ExportRecord | None = None


class StateStore(ABC):
    """Small, atomic operations on export records; every record expires after its TTL."""

    @abstractmethod
    def claim(self, key: str, owner: str, lease_s: float, ttl_s: float) -> Claim:
        """Take ``key`` for sending unless a live record exists (atomic across processes).

        An in-flight record whose lease ran out is returned as it is (its outcome is
        unknown); the caller decides.
        """

    @abstractmethod
    def finish(self, key: str, owner: str, state: str, answer: dict, ttl_s: float) -> None:
        """Record the outcome of an export this owner claimed."""

    @abstractmethod
    def take_over(self, key: str, owner: str, lease_s: float, ttl_s: float) -> None:
        """Claim ``key`` whatever its record says (a deliberate resend)."""

    @abstractmethod
    def release(self, key: str, owner: str) -> None:
        """Forget a claim whose export failed, so that the next delivery sends it."""

    @abstractmethod
    def get(self, key: str) -> ExportRecord | None:
        """The live record of ``key``, if any."""

    @abstractmethod
    def create_job(self, job_id: str, lease_s: float, ttl_s: float) -> None:
        """A running job, which expires after ``ttl_s``."""

    @abstractmethod
    def mark_job_late(self, job_id: str) -> None:
        """Note that the hook call was answered 202 (Rossum's token may expire now)."""

    @abstractmethod
    def finish_job(self, job_id: str, answer: dict, ttl_s: float) -> None:
        """Store a job's answer for the polls."""

    @abstractmethod
    def get_job(self, job_id: str) -> JobRecord | None:
        """The job, unless unknown or expired."""

    @abstractmethod
    def put_job_input(self, job_id: str, data: bytes, ttl_s: float) -> None:
        """Hand a background worker what it needs to run the job."""

    @abstractmethod
    def take_job_input(self, job_id: str) -> bytes | None:
        """Read and delete a job's input: it is kept only as long as the job needs it."""
