"""One deadline for the whole answer of an HTTP attempt (SPEC §11).

requests' read timeout bounds each read from the socket, so a server that drips one
byte a second never trips it. Here every attempt made inside :func:`answer_deadline`
gets a timer when it starts waiting for its answer; at the deadline the timer shuts
the connection's socket down, which ends whatever read is blocked on it (status
line, headers or body), in a thread or a gevent greenlet alike. Connections come from
urllib3 pool classes installed on a session by :func:`install`, so pooled keep-alive
connections are covered the same way as fresh ones.
"""

import socket
import threading
from collections.abc import Callable
from contextlib import contextmanager, suppress

import requests
from urllib3 import poolmanager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from . import green
from .pooled_connections import PromptLivenessMixin

_current = threading.local()  # the AnswerDeadline of the send running in this thread


def start_timer(seconds: float, callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` in ``seconds`` unless the returned function is called first.

    Under gevent's monkey-patching (the default worker) it is a timer of the event loop:
    no greenlet is started for it, and the callback runs in the hub (it must not block).
    Otherwise it is a daemon :class:`threading.Timer`.
    """
    if green.patched("threading"):
        from gevent import get_hub

        timer = get_hub().loop.timer(seconds)
        timer.start(callback)
        return timer.close
    thread = threading.Timer(seconds, callback)
    thread.daemon = True
    thread.start()
    return thread.cancel


class AnswerDeadline:
    """Cuts off each attempt's answer ``seconds`` after the attempt began to wait for it."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False  # the current attempt's answer was cut off
        self._cancel: Callable[[], None] | None = None

    def arm(self, sock: socket.socket) -> None:
        """A new attempt waits for its answer on ``sock``: its deadline starts now."""
        self.disarm()
        self.expired = False
        self._cancel = start_timer(self.seconds, lambda: self._cut_off(sock))

    def disarm(self) -> None:
        """The attempt's answer is complete (or it is over): no cut-off."""
        if self._cancel is not None:
            self._cancel()
            self._cancel = None

    def _cut_off(self, sock: socket.socket) -> None:
        self.expired = True
        # socket.socket's own shutdown, also for a TLS socket: it only wakes the reader
        # with end-of-file; the TLS state stays with the thread reading. An OSError: the
        # socket is closed already, the attempt ended on its own.
        with suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


@contextmanager
def answer_deadline(seconds: float):
    """Attempts made in this block (in this thread) have ``seconds`` for their whole answer."""
    deadline = AnswerDeadline(seconds)
    previous = getattr(_current, "deadline", None)
    _current.deadline = deadline
    try:
        yield deadline
    finally:
        deadline.disarm()
        _current.deadline = previous


def current() -> AnswerDeadline | None:
    """The deadline of the send running in this thread, if any."""
    return getattr(_current, "deadline", None)


class DeadlineConnectionMixin:
    """Arms the running send's deadline when the request is out and its answer awaited."""

    def getresponse(self):
        deadline = current()
        if deadline is not None and self.sock is not None:
            deadline.arm(self.sock)
        return super().getresponse()


class DeadlineHTTPConnection(DeadlineConnectionMixin, PromptLivenessMixin, HTTPConnection):
    pass


class DeadlineHTTPSConnection(DeadlineConnectionMixin, PromptLivenessMixin, HTTPSConnection):
    pass


class DeadlineHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = DeadlineHTTPConnection


class DeadlineHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = DeadlineHTTPSConnection


POOL_CLASSES = {"http": DeadlineHTTPConnectionPool, "https": DeadlineHTTPSConnectionPool}
DEFAULT_POOL_CLASSES = dict(poolmanager.pool_classes_by_scheme)  # urllib3's own


def install(session: requests.Session) -> requests.Session:
    """Make the session's adapters open connections that honour :func:`answer_deadline`,
    directly and through a proxy alike.

    Install this before anything that builds on the session's pool classes (progress
    reporting): those wrap the deadline pools, not urllib3's defaults.
    """
    for adapter in session.adapters.values():
        adapter.poolmanager.pool_classes_by_scheme = POOL_CLASSES
        if not getattr(adapter.proxy_manager_for, "installs_deadlines", False):
            adapter.proxy_manager_for = _deadline_proxies(adapter.proxy_manager_for)
    return session


def _deadline_proxies(proxy_manager_for):
    """requests' ``proxy_manager_for``, whose (cached) proxy managers get the deadline pools.

    Only a manager on urllib3's default pools gets them: one seen before keeps what was
    layered on since, and a SOCKS manager keeps its own pools.
    """

    def wrapped(*args, **kwargs):
        manager = proxy_manager_for(*args, **kwargs)
        if manager.pool_classes_by_scheme == DEFAULT_POOL_CLASSES:
            manager.pool_classes_by_scheme = POOL_CLASSES
        return manager

    wrapped.installs_deadlines = True
    return wrapped
