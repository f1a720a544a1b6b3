"""Sending the export request to the customer's API, and nothing else.

All HTTP to targets goes through :meth:`Delivery.send`, so timeouts, retries and
duplicate protection have one home. Library errors become :class:`TargetError`
here, described by host and cause only: a URL may carry secrets in its query.
"""

import errno
import logging
import socket
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from requests_hardened.ip_filter import InvalidIPAddress

from ..errors import TargetError

log = logging.getLogger(__name__)


@dataclass
class OutgoingRequest:
    """A fully rendered export request; ``data``/``files`` are given to requests as they are."""

    method: str
    url: str
    headers: dict = field(default_factory=dict)
    data: bytes | dict | None = None
    files: list | None = None

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


class Delivery:
    """Sends export requests with the configured timeouts on a shared session."""

    def __init__(self, session: requests.Session, connect_timeout: float, read_timeout: float):
        self.session = session
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout

    def send(self, request: OutgoingRequest) -> Reply:
        started = time.monotonic()
        try:
            response = self.session.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.data,
                files=request.files,
                timeout=(self.connect_timeout, self.read_timeout),
            )
        except requests.RequestException as exc:
            raise TargetError(
                f"{request.method} {request.host} failed: "
                f"{describe_failure(exc, self.connect_timeout, self.read_timeout)}"
            ) from None
        elapsed = time.monotonic() - started
        log.info(
            "%s %s answered %s in %.3f s",
            request.method,
            request.host,
            response.status_code,
            elapsed,
        )
        return Reply(
            status_code=response.status_code,
            reason=response.reason or "",
            headers=list(response.raw.headers.items()) if response.raw else [],
            body=response.content,
            elapsed_s=elapsed,
        )


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
    seen = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, socket.gaierror):
            return "the host name could not be resolved"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by the target"
        if isinstance(cause, ssl.SSLError):
            return "TLS error (check the target's certificate)"
        if isinstance(cause, OSError) and cause.errno == errno.ENETUNREACH:
            return "network unreachable"
        cause = (
            cause.__cause__
            or cause.__context__
            or next(
                (arg for arg in getattr(cause, "args", ()) if isinstance(arg, BaseException)), None
            )
        )
    if "RemoteDisconnected" in repr(exc) or "closed connection" in repr(exc):
        return "the target closed the connection without answering"
    return "connection failed"
