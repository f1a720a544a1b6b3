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
from functools import cache
from typing import Protocol

import requests
from urllib3.connectionpool import HTTPConnectionPool


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


@cache
def reporting_pool(pool_class: type[HTTPConnectionPool]) -> type[HTTPConnectionPool]:
    """``pool_class`` whose connections also report (it keeps what its own connections do).

    A pool class that reports already is kept as it is: requests hands back the same
    cached proxy manager on every call, so its pool classes come here again and again.
    """
    if issubclass(pool_class.ConnectionCls, ReportingConnection):
        return pool_class
    connection_class = type(
        f"Reporting{pool_class.ConnectionCls.__name__}",
        (ReportingConnection, pool_class.ConnectionCls),
        {},
    )
    return type(
        f"Reporting{pool_class.__name__}", (pool_class,), {"ConnectionCls": connection_class}
    )


def report_progress(session: requests.Session) -> requests.Session:
    """Make every adapter of ``session`` (and its proxy managers) use reporting connections,
    on top of the connection classes already installed there (deadlines, address checks)."""
    for adapter in session.adapters.values():
        reporting(adapter.poolmanager)
        if not getattr(adapter.proxy_manager_for, "reports_progress", False):
            adapter.proxy_manager_for = _reporting_proxies(adapter.proxy_manager_for)
    return session


def reporting(manager):
    manager.pool_classes_by_scheme = {
        scheme: reporting_pool(pool_class)
        for scheme, pool_class in manager.pool_classes_by_scheme.items()
    }
    return manager


def _reporting_proxies(proxy_manager_for):
    def wrapped(*args, **kwargs):
        return reporting(proxy_manager_for(*args, **kwargs))

    wrapped.reports_progress = True
    return wrapped
