"""The heartbeat: one daemon thread per process keeps its claims and jobs alive (SPEC §9).

While a process works on an export, its claim's lease and its job's liveness are
renewed every ``interval_s``; when the process dies they stop being renewed, so a
claim ends with its lease and a job's poll answers ``404`` soon after. Each beat also
runs :meth:`StateStore.check` (a lost memory is noticed even without traffic; expired
SQLite rows are deleted in small batches). Plain ``threading`` primitives: they work
the same under gevent's monkey-patching.
"""

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .base import StateStore, StateStoreUnavailable

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, store: StateStore, interval_s: float, lease_s: float, job_alive_s: float):
        self.store = store
        self.interval_s = interval_s
        self.lease_s = lease_s
        self.job_alive_s = job_alive_s
        self._lock = threading.Lock()
        self._claims: dict[tuple[str, str], int] = {}
        self._jobs: set[str] = set()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    @contextmanager
    def keeping_claim(self, key: str, owner: str) -> Iterator[None]:
        """Renew the lease of ``owner``'s claim on ``key`` while the block runs."""
        self.start()
        with self._lock:
            self._claims[(key, owner)] = self._claims.get((key, owner), 0) + 1
        try:
            yield
        finally:
            with self._lock:
                count = self._claims.pop((key, owner)) - 1
                if count:
                    self._claims[(key, owner)] = count

    def keep_job(self, job_id: str) -> None:
        self.start()
        with self._lock:
            self._jobs.add(job_id)

    def drop_job(self, job_id: str) -> None:
        with self._lock:
            self._jobs.discard(job_id)

    def start(self) -> None:
        """Start the thread in this process (again after a fork: threads do not survive it)."""
        with self._lock:
            if self._pid == os.getpid() and self._thread is not None:
                return
            if self._pid is not None:  # forked: what the parent owned is the parent's
                self._claims.clear()
                self._jobs.clear()
            self._pid = os.getpid()
            self._stopped.clear()
            self._thread = threading.Thread(target=self._run, name="state-heartbeat", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.interval_s + 5)

    def _run(self) -> None:
        while not self._stopped.wait(self.interval_s):
            self.beat()

    def beat(self) -> None:
        with self._lock:
            claims, jobs = list(self._claims), list(self._jobs)
        try:
            self.store.renew(claims, jobs, self.lease_s, self.job_alive_s)
            self.store.check()
        except StateStoreUnavailable as error:
            log.warning("heartbeat: %s", error)
        except Exception:  # a bug here must not stop the beats that keep claims alive
            log.exception("heartbeat failed unexpectedly")
