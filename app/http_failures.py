"""How a request to a target failed, in words an admin can act on (never with the URL).

Also whether the outcome is unknown: the request went out and no answer came back.
"""

import errno
import http.client
import socket
import ssl

import requests
from requests_hardened.ip_filter import InvalidIPAddress
from urllib3.exceptions import (
    ConnectTimeoutError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from .security import MAX_REDIRECTS, CrossOriginRedirect


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
    """What went wrong with an export request, in words an admin can act on, without the URL."""
    if isinstance(exc, requests.ConnectTimeout):
        return f"could not connect within {connect_timeout:g} s"
    if isinstance(exc, requests.ReadTimeout):
        return (
            f"no answer within {read_timeout:g} s after the request was sent; "
            "the target may already hold the export"
        )
    return describe_connection_failure(exc, "the target's")


def describe_token_failure(exc: requests.RequestException) -> str:
    """What went wrong with a token request."""
    if isinstance(exc, requests.ConnectTimeout):
        return "could not connect in time"
    if isinstance(exc, requests.ReadTimeout):
        return "no answer in time"
    return describe_connection_failure(exc, "the token endpoint's")


def describe_connection_failure(exc: requests.RequestException, whose: str) -> str:
    """The causes a target and a token endpoint share: refused address, TLS, socket, URL."""
    if isinstance(exc, InvalidIPAddress):
        return refused_address(exc)
    if isinstance(exc, CrossOriginRedirect):
        return str(exc)
    if isinstance(exc, requests.TooManyRedirects):
        return f"more than {MAX_REDIRECTS} redirects"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS error (check {whose} certificate)"
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
