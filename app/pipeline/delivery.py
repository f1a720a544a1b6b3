"""Sending the export request to the customer's API, and nothing else.

All HTTP to targets goes through :meth:`Delivery.send`, so timeouts and retries
have one home. Library errors become :class:`TargetError`
here, described by host and cause only: a URL may carry secrets in its query.
"""

import errno
import http.client
import logging
import socket
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from requests_hardened.ip_filter import InvalidIPAddress
from urllib3.exceptions import (
    ConnectTimeoutError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from ..errors import TargetError
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
            attempt_log.record(failure)
            raise TargetError(
                f"{request.method} {request.host} failed{attempts}: {failure}",
                unknown_outcome=outcome_unknown(exc),
                attempt_outcomes=attempt_log.outcomes,
            ) from None
        attempt_log.record(f"answered {response.status_code}")
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


def outcome_unknown(exc: requests.RequestException) -> bool:
    """Whether the request may have reached the target: it went out, no answer came back."""
    if isinstance(exc, requests.ReadTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError) or isinstance(exc, requests.ConnectTimeout):
        return False
    causes = list(exception_chain(exc))
    if any(
        isinstance(c, (NewConnectionError, ConnectTimeoutError, InvalidIPAddress)) for c in causes
    ):
        return False
    return any(isinstance(c, (ProtocolError, ReadTimeoutError)) for c in causes)


def exception_chain(exc: BaseException):
    """An exception and everything it wraps: causes, contexts, urllib3 reasons, arguments."""
    seen, pending = set(), [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        pending += [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]


def describe_failure(exc: requests.RequestException, connect_timeout, read_timeout) -> str:
    """What went wrong, in words an admin can act on, without the URL."""
    if isinstance(exc, InvalidIPAddress):
        return refused_address(exc)
    if isinstance(exc, requests.ConnectTimeout):
        return f"could not connect within {connect_timeout:g} s"
    if isinstance(exc, requests.ReadTimeout):
        return (
            f"no answer within {read_timeout:g} s after the request was sent; "
            "the target may already hold the export"
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error (check the target's certificate)"
    if isinstance(exc, requests.ConnectionError):
        return connection_failure(exc)
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
        return "the URL is not valid"
    return type(exc).__name__


def refused_address(exc: InvalidIPAddress) -> str:
    return (
        f"refused: it resolves to {exc.args[0]}, which is not a public address "
        "(ALLOW_PRIVATE_TARGETS is off); nothing was sent"
    )


def connection_failure(exc: BaseException) -> str:
    """Name the socket-level cause found in an exception's chain."""
    for cause in exception_chain(exc):
        if isinstance(cause, socket.gaierror):
            return "the host name could not be resolved"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ssl.SSLError):
            return "TLS error (check the target's certificate)"
        if isinstance(cause, OSError) and cause.errno == errno.ENETUNREACH:
            return "network unreachable"
    for cause in exception_chain(exc):
        if isinstance(cause, ConnectionResetError):
            return "connection reset by the target"
        if isinstance(cause, (ProtocolError, http.client.RemoteDisconnected)):
            return "the target closed the connection without answering"
    return "connection failed"
