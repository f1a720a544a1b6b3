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
