"""The state store's interface: remembered exports, claims and jobs (SPEC §9).

A claim is the mark that one delivery is sending an export. The export pipeline takes
it as ``sent`` the moment the request's bytes are about to go out (before that nothing
is recorded: a delivery that dies while fetching or connecting leaves nothing behind).
It has a lease, renewed by its owner's heartbeat, and a stage that says how far the
export got, so that what happens after the owner died follows from what it recorded:

- ``in_flight``: nothing has reached the target (the target refused it and the owner
  retries). The record ends with its lease; the next delivery sends the export.
- ``sent``: request bytes went out and no status line came back yet. Past its lease the
  outcome is unknown: it is not sent again blindly.
- ``delivered``: a status line came back (recorded the moment it arrived).
- ``unknown``: the request went out and no answer came back.
"""

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import RefusedCall

IN_FLIGHT = "in_flight"  # claimed; nothing has reached the target yet
SENT = "sent"  # request bytes went out; no status line yet
DELIVERED = "delivered"  # the target answered (success or warning)
UNKNOWN = "unknown"  # the request went out and no answer came back

LIVE_STATES = (IN_FLIGHT, SENT)  # a claim whose owner is (or was) working on it


def kept_for(state: str, lease_s: float, ttl_s: float) -> float:
    """Seconds a record in ``state`` is kept: ``in_flight`` ends with its lease (nothing
    went out), every other stage is remembered for the TTL."""
    return lease_s if state == IN_FLIGHT else ttl_s


@dataclass(frozen=True)
class ExportRecord:
    """What is remembered of one export, keyed by its idempotency key."""

    state: str
    owner: str
    updated_at: float  # seconds since the epoch
    lease_until: float  # a live claim past this lost its owner
    answer: dict  # the hook answer's messages and operations; never a payload or a secret

    @property
    def abandoned(self) -> bool:
        """A claim whose owner stopped renewing its lease (it died)."""
        return self.state in LIVE_STATES and self.lease_until < time.time()


@dataclass(frozen=True)
class JobRecord:
    """An export answered asynchronously (202): running until its answer is stored."""

    done: bool
    answer: dict  # messages and operations only
    alive_until: float  # a running job whose owner's heartbeat stopped past this is dead


@dataclass(frozen=True)
class Claim:
    """The result of :meth:`StateStore.claim`: ours to send, or someone else's record."""

    acquired: bool
    record: ExportRecord | None = None


class StateStoreUnavailable(RefusedCall):
    """The state store cannot be used: nothing is sent, the call is answered ``503``."""

    status = 503

    def __init__(self, store: str, cause: str):
        self.store, self.cause = store, cause
        super().__init__(
            f"The state store ({store}) cannot be used: {cause}. Nothing was sent; "
            "Rossum retries the call."
        )


class VolatileStateError(RuntimeError):
    """The configured state store would forget delivered exports at its next restart."""


class StateStore(ABC):
    """Small, atomic operations on export records and jobs; every record expires.

    Every operation raises :class:`StateStoreUnavailable` when the store cannot be
    used, and works again once it can, without a restart.
    """

    @abstractmethod
    def describe(self) -> str:
        """What the store is, for messages (never a password)."""

    @abstractmethod
    def claim(
        self, key: str, owner: str, lease_s: float, state: str = IN_FLIGHT, ttl_s: float = 0
    ) -> Claim:
        """Take ``key`` unless a record exists (atomic across processes), in ``state``.

        An ``in_flight`` claim ends with its lease unless renewed; one in another state
        (``sent``: taken the moment the request goes out) is kept for ``ttl_s``.
        """

    @abstractmethod
    def take_over(
        self, key: str, owner: str, lease_s: float, state: str = IN_FLIGHT, ttl_s: float = 0
    ) -> None:
        """Claim ``key`` whatever its record says (a deliberate resend)."""

    @abstractmethod
    def advance(
        self, key: str, owner: str, state: str, lease_s: float, ttl_s: float, answer: dict
    ) -> None:
        """Record how far an export this owner claimed got, or its outcome.

        An ``in_flight`` record ends with its lease; any other is kept for ``ttl_s``.
        """

    @abstractmethod
    def release(self, key: str, owner: str) -> None:
        """Forget a claim whose export failed, so that the next delivery sends it."""

    @abstractmethod
    def get(self, key: str) -> ExportRecord | None:
        """The live record of ``key``, if any."""

    @abstractmethod
    def renew(
        self,
        claims: Iterable[tuple[str, str]],
        jobs: Iterable[str],
        lease_s: float,
        job_alive_s: float,
    ) -> None:
        """The owner's heartbeat: extend its live claims' leases and its running jobs."""

    @abstractmethod
    def create_job(self, job_id: str, alive_s: float, ttl_s: float) -> None:
        """A running job, which expires after ``ttl_s``."""

    @abstractmethod
    def finish_job(self, job_id: str, answer: dict, ttl_s: float) -> None:
        """Store a job's answer for the polls."""

    @abstractmethod
    def get_job(self, job_id: str) -> JobRecord | None:
        """The job, unless unknown or expired."""

    @abstractmethod
    def check(self) -> None:
        """Notice a store that lost its memory (logged at ERROR, counted); drop expired rows."""
