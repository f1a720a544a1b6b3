"""Retry policy of the export request (SPEC §9), as urllib3 ``Retry`` on the session adapter.

``wait`` mode makes one attempt. ``retry`` mode retries connection failures and
429/502/503/504 answers with exponential backoff and full jitter, honouring
``Retry-After``, until the attempts or the time budget run out. A read timeout or a
connection dropped after the request went out is an unknown outcome and is retried
only when resending is safe (the request carries an idempotency key, or duplicate
protection is off).
"""

import logging
import random
import time
from dataclasses import dataclass, field

from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from .. import deadlines
from ..http_failures import connection_failure

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRIES = 10
BACKOFF_MAX_S = 8.0


@dataclass
class AttemptLog:
    """Attempts made for one export request, shared by the Retry objects of that send."""

    host: str
    attempts: int = 1
    outcomes: list[tuple[float, str]] = field(default_factory=list)  # (seconds in, what)
    started: float = field(default_factory=time.monotonic)

    def record(self, outcome: str, replaces_last: bool = False) -> None:
        """Note an attempt's outcome (``replaces_last``: a better word for the same one)."""
        if replaces_last and self.outcomes:
            self.outcomes.pop()
        self.outcomes.append((time.monotonic() - self.started, outcome))


class ExportRetry(Retry):
    """urllib3 Retry with full jitter, a time budget, and every attempt logged."""

    def __init__(self, *args, deadline: float = float("inf"), attempt_log: AttemptLog, **kwargs):
        super().__init__(*args, **kwargs)
        self.deadline = deadline
        self.attempt_log = attempt_log

    def new(self, **kwargs) -> "ExportRetry":
        kwargs.setdefault("deadline", self.deadline)
        kwargs.setdefault("attempt_log", self.attempt_log)
        return super().new(**kwargs)

    def get_backoff_time(self) -> float:
        """Full jitter: a random wait up to the exponential backoff's ceiling."""
        if not self.backoff_factor or not self.history:
            return 0.0
        ceiling = min(self.backoff_max, self.backoff_factor * 2 ** (len(self.history) - 1))
        return random.uniform(0, ceiling)

    def increment(
        self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None
    ):
        outcome = f"answered {response.status}" if response is not None else describe(error)
        self.attempt_log.record(outcome)
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        wait = retry.get_retry_after(response) if response is not None else None
        wait = retry.get_backoff_time() if wait is None else wait
        if time.monotonic() + wait > self.deadline:
            log.warning(
                "attempt %d to %s %s; retry budget spent, giving up",
                self.attempt_log.attempts,
                self.attempt_log.host,
                outcome,
            )
            raise MaxRetryError(_pool, url, error or "retry budget spent")
        log.warning(
            "attempt %d to %s %s; retrying in %.1f s",
            self.attempt_log.attempts,
            self.attempt_log.host,
            outcome,
            wait,
        )
        self.attempt_log.attempts += 1
        retry.planned_wait = wait
        return retry

    def sleep(self, response=None) -> None:
        # The attempt is over (a retried answer's body drained within its deadline).
        if deadline := deadlines.current():
            deadline.disarm()
        # The wait was chosen (and checked against the budget) in increment().
        time.sleep(getattr(self, "planned_wait", 0.0))


def describe(error) -> str:
    """One attempt's failure, for the log and the transcript."""
    deadline = deadlines.current()
    if isinstance(error, ReadTimeoutError) or deadline and deadline.expired:
        return "gave no answer in time"
    if isinstance(error, ConnectTimeoutError) and not isinstance(error, NewConnectionError):
        return "timed out connecting"
    return connection_failure(error) if error is not None else "failed"


@dataclass(frozen=True)
class RetryPolicy:
    """How one export request is attempted."""

    retry: bool
    resend_allowed: bool  # an unknown outcome may be sent again (idempotency key / no dedup)
    connect_timeout: float
    read_timeout: float
    budget_s: float
    backoff_s: float

    def new_retry(self, attempt_log: AttemptLog) -> ExportRetry:
        if not self.retry:
            return ExportRetry(
                0, read=False, redirect=None, raise_on_status=False, attempt_log=attempt_log
            )
        return ExportRetry(
            total=None,
            connect=MAX_RETRIES,
            read=MAX_RETRIES if self.resend_allowed else False,
            status=MAX_RETRIES,
            other=0,
            redirect=None,
            allowed_methods=None,  # a refused connection never sent anything
            status_forcelist=RETRY_STATUSES,
            backoff_factor=self.backoff_s,
            backoff_max=BACKOFF_MAX_S,
            raise_on_status=False,
            respect_retry_after_header=True,
            deadline=time.monotonic() + self.budget_s,
            attempt_log=attempt_log,
        )
