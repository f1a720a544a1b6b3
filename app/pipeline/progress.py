"""How far an export request got on the wire, for the claim that records it (SPEC §9).

The target session's connections report two moments to the listener of the export
being sent (a context variable, so concurrent exports on other threads or greenlets
never mix): request bytes about to go out on an open connection, and a status line
received. A connection that fails to open reports nothing: such an attempt sent
nothing. Every response's status line is reported, retried and redirected ones too.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

import requests
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class ProgressListener(Protocol):
    def bytes_going_out(self) -> None:
        """Request bytes are about to be written on an open connection."""

    def status_line(self, status: int) -> None:
        """A status line arrived (before the body is read)."""


_listener: ContextVar[ProgressListener | None] = ContextVar("export_progress", default=None)


@contextmanager
def reporting_to(listener: ProgressListener) -> Iterator[None]:
    """Report the wire progress of requests sent in this context to ``listener``."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


class ReportingConnection:
    """Mixin for urllib3 connections: every write and status line is reported."""

    def send(self, data) -> None:
        if self.sock is None:
            self.connect()  # a refused connection raises here, before anything is reported
        listener = _listener.get()
        if listener is not None:
            listener.bytes_going_out()
        super().send(data)

    def getresponse(self):
        response = super().getresponse()
        listener = _listener.get()
        if listener is not None:
            listener.status_line(response.status)
        return response


class ReportingHTTPConnection(ReportingConnection, HTTPConnection):
    pass


class ReportingHTTPSConnection(ReportingConnection, HTTPSConnection):
    pass


class ReportingHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = ReportingHTTPConnection


class ReportingHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = ReportingHTTPSConnection


POOL_CLASSES = {"http": ReportingHTTPConnectionPool, "https": ReportingHTTPSConnectionPool}


def report_progress(session: requests.Session) -> requests.Session:
    """Make every adapter of ``session`` (and its proxy managers) use reporting connections."""
    for adapter in session.adapters.values():
        adapter.poolmanager.pool_classes_by_scheme = POOL_CLASSES
        adapter.proxy_manager_for = _reporting_proxies(adapter.proxy_manager_for)
    return session


def _reporting_proxies(proxy_manager_for):
    def wrapped(*args, **kwargs):
        manager = proxy_manager_for(*args, **kwargs)
        manager.pool_classes_by_scheme = POOL_CLASSES
        return manager

    return wrapped
