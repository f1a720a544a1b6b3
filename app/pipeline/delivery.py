"""Sending the export request to the customer's API, and nothing else.

All HTTP to targets goes through :meth:`Delivery.send`, so timeouts and retries
have one home. Library errors become :class:`TargetError`
here, described by host and cause only: a URL may carry secrets in its query.
"""

import logging
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from .. import metrics
from ..errors import TargetError
from ..http_failures import describe_failure, outcome_unknown
from .retries import AttemptLog, RetryPolicy

log = logging.getLogger(__name__)


@dataclass
class OutgoingRequest:
    """A fully rendered export request; ``data``/``files`` are given to requests as they are."""

    method: str
    url: str
    headers: dict = field(default_factory=dict)
    data: bytes | dict | None = None
    files: list | None = None
    idempotency_key: str | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc


@dataclass(frozen=True)
class Reply:
    """What the target answered."""

    status_code: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    elapsed_s: float
    attempts: int = 1
    attempt_outcomes: list = field(default_factory=list)  # (seconds in, what happened)


class Delivery:
    """Sends export requests on a (per-thread) session with a retry policy per request."""

    def __init__(self, session: requests.Session):
        self.session = session

    def send(self, request: OutgoingRequest, policy: RetryPolicy) -> Reply:
        attempt_log = AttemptLog(request.host)
        retry = policy.new_retry(attempt_log)
        for adapter in self.session.adapters.values():  # the session is this thread's own
            adapter.max_retries = retry
        started = time.monotonic()
        try:
            response = self.session.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.data,
                files=request.files,
                timeout=(policy.connect_timeout, policy.read_timeout),
            )
        except requests.RequestException as exc:
            attempts = f" after {attempt_log.attempts} attempts" if attempt_log.attempts > 1 else ""
            failure = describe_failure(exc, policy.connect_timeout, policy.read_timeout)
            attempt_log.record(
                failure, replaces_last=len(attempt_log.outcomes) >= attempt_log.attempts
            )
            metrics.TARGET_REPLIES.labels("error").inc()
            raise TargetError(
                f"{request.method} {request.host} failed{attempts}: {failure}",
                unknown_outcome=outcome_unknown(exc),
                attempt_outcomes=attempt_log.outcomes,
            ) from None
        attempt_log.record(f"answered {response.status_code}")
        metrics.TARGET_REPLIES.labels(metrics.status_class(response.status_code)).inc()
        elapsed = time.monotonic() - started
        log.info(
            "%s %s answered %s in %.3f s (%d attempts)",
            request.method,
            request.host,
            response.status_code,
            elapsed,
            attempt_log.attempts,
        )
        return Reply(
            status_code=response.status_code,
            reason=response.reason or "",
            headers=list(response.raw.headers.items()) if response.raw else [],
            body=response.content,
            elapsed_s=elapsed,
            attempts=attempt_log.attempts,
            attempt_outcomes=attempt_log.outcomes,
        )
