"""Checking a kept-alive connection before reusing it, without yielding to gevent's hub.

Before a pooled connection is reused, urllib3 polls its socket with a zero timeout (a
closed or half-closed connection is readable). Under gevent's monkey-patching that
poll registers a watcher and runs a whole event-loop iteration — a switch to the hub
and back on every HTTP call. The same zero-timeout poll, made with the original
``select.poll``, is one system call that never blocks.
"""

import select

from . import green


def readable_now(sock) -> bool:
    """Whether ``sock`` has data or an end-of-file waiting: a non-blocking check."""
    poller = green.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))


class PromptLivenessMixin:
    """Mixin for urllib3 connections: ``is_connected`` as urllib3 decides it, promptly."""

    @property
    def is_connected(self) -> bool:
        if self.sock is None:
            return False
        return not readable_now(self.sock)
