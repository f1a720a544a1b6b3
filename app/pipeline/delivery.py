"""Sending the export request to the customer's API, and nothing else.

All HTTP to targets goes through :meth:`Delivery.send`, so timeouts, retries and
the limits on a reply (SPEC §11: one deadline per attempt, at most MAX_REPLY_BYTES
kept) have one home. Library errors become :class:`TargetError`
here, described by host and cause only: a URL may carry secrets in its query.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from tempfile import SpooledTemporaryFile
from urllib.parse import urlsplit

import requests

from .. import metrics
from ..deadlines import answer_deadline
from ..errors import TargetError
from ..http_failures import connection_failure, describe_failure, outcome_unknown
from ..multipart_encoding import MultipartBody
from ..rossum import SPOOL_IN_MEMORY
from .retries import AttemptLog, RetryPolicy

log = logging.getLogger(__name__)

ENCODE_CHUNK = 64 * 1024
READ_CHUNK = 64 * 1024


@dataclass
class OutgoingRequest:
    """A fully rendered export request; ``data``/``files`` are given to requests as they are."""

    method: str
    url: str
    headers: dict = field(default_factory=dict)
    data: bytes | dict | None = None
    files: list | None = None  # multipart parts: (name, (filename or None, value, type))
    idempotency_key: str | None = None
    body_identity: str | None = None  # a streamed file's document and digest

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
    body_problem: str | None = None  # why the body was not read whole (then it is not used)


def wire_body(request: OutgoingRequest, rewindable: bool):
    """Headers and body as sent: multipart streamed by requests-toolbelt's encoder.

    A body that retries may send again must be rewindable: the encoded multipart
    body is then spooled (to a temporary file past 1 MiB) instead of streamed.
    """
    data = request.data
    if request.files is None:
        if hasattr(data, "seek"):
            data.seek(0)
        return request.headers, data
    encoder = MultipartBody(fields=request.files)
    headers = {**request.headers, "Content-Type": encoder.content_type}
    if not rewindable:
        return headers, encoder
    spool = SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by send()
    while chunk := encoder.read(ENCODE_CHUNK):
        spool.write(chunk)
    spool.seek(0)
    return headers, spool


def skip_redirect_body(response: requests.Response, **kwargs) -> None:
    """requests reads a redirect's body whole before following it; it is not read at all.

    The connection is closed instead of drained, so a redirect with an endless body
    costs nothing (the body of a redirect is never used).
    """
    if response.is_redirect:
        response._content = b""
        response.raw.close()


class Delivery:
    """Sends export requests on the sending thread's session, with a retry policy per request.

    The session is taken when a request is sent, not when the delivery is made: exports
    are prepared on the thread answering the hook call and often sent from another, and
    a send sets its retries on the session's adapters, which only that thread may use.
    """

    def __init__(
        self, session_of_this_thread: Callable[[], requests.Session], max_reply_bytes: int
    ):
        self.session_of_this_thread = session_of_this_thread
        self.max_reply_bytes = max_reply_bytes

    def send(self, request: OutgoingRequest, policy: RetryPolicy) -> Reply:
        session = self.session_of_this_thread()
        attempt_log = AttemptLog(request.host)
        retry = policy.new_retry(attempt_log)
        for adapter in session.adapters.values():  # no other thread uses this session
            adapter.max_retries = retry
        started = time.monotonic()
        headers, data = wire_body(request, rewindable=policy.retry)
        with answer_deadline(policy.read_timeout) as deadline:
            try:
                response = session.request(
                    request.method,
                    request.url,
                    headers=headers,
                    data=data,
                    timeout=(policy.connect_timeout, policy.read_timeout),
                    stream=True,
                    # Per-request hooks replace the session's: keep those (redirect checks).
                    hooks={"response": [*session.hooks["response"], skip_redirect_body]},
                )
            except requests.RequestException as exc:
                raise self.failure(request, policy, attempt_log, exc, deadline.expired) from None
            finally:
                if data is not request.data and hasattr(data, "close"):
                    data.close()  # the spool of an encoded multipart body
            with response:
                body, body_problem = self.read_body(response, deadline)
        attempt_log.record(f"answered {response.status_code}")
        metrics.TARGET_REPLIES.labels(metrics.status_class(response.status_code)).inc()
        elapsed = time.monotonic() - started
        # At DEBUG: the export's own log line says the same at INFO (target, status, attempts).
        log.debug(
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
            body=body,
            elapsed_s=elapsed,
            attempts=attempt_log.attempts,
            attempt_outcomes=attempt_log.outcomes,
            body_problem=body_problem,
        )

    def read_body(self, response: requests.Response, deadline) -> tuple[bytes, str | None]:
        """The body, up to MAX_REPLY_BYTES and the deadline; else why it was not read whole.

        Past the limit nothing more is read: the connection is closed, so memory stays
        flat whatever the target sends.
        """
        body = bytearray()
        try:
            for chunk in response.iter_content(READ_CHUNK):
                body += chunk
                if len(body) > self.max_reply_bytes:
                    return b"", f"is larger than MAX_REPLY_BYTES ({self.max_reply_bytes} bytes)"
        except requests.RequestException as exc:
            if not deadline.expired:
                return b"", f"was cut off: {connection_failure(exc)}"
        if deadline.expired:
            return b"", f"did not arrive whole within {deadline.seconds:g} s"
        return bytes(body), None

    def failure(self, request, policy, attempt_log, exc, expired: bool) -> TargetError:
        """The TargetError for a send that got no status line back."""
        attempts = f" after {attempt_log.attempts} attempts" if attempt_log.attempts > 1 else ""
        if expired:
            failure = describe_failure(
                requests.ReadTimeout(), policy.connect_timeout, policy.read_timeout
            )
        else:
            failure = describe_failure(exc, policy.connect_timeout, policy.read_timeout)
        already_noted = len(attempt_log.outcomes) >= attempt_log.attempts
        attempt_log.record(failure, replaces_last=already_noted)
        metrics.TARGET_REPLIES.labels("error").inc()
        return TargetError(
            f"{request.method} {request.host} failed{attempts}: {failure}",
            unknown_outcome=expired or outcome_unknown(exc),
            attempt_outcomes=attempt_log.outcomes,
        )
