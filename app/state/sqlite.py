"""The embedded state store: one SQLite file in WAL mode, safe across processes.

Each OS thread keeps its own connection (under gevent, the greenlets of a thread share
it: no SQLite call yields, so their statements never interleave, and one connection
keeps one page cache warm instead of one per greenlet). Before using it, the file at
the path is compared with the one the connection has open (device and inode): a file
deleted or replaced under the running service is noticed, logged at ERROR, counted,
and recreated. Any SQLite or file-system error (read-only file, full disk, missing
directory) drops the thread's connection and is raised as
:class:`StateStoreUnavailable`; the next operation opens the file again, so the store
recovers by itself.

A statement that finds the file locked by another process's write waits for it in
Python (:mod:`.sqlite_waits`), not in SQLite's own busy handler, which sleeps
inside the C call: under gevent that stopped every greenlet of the worker for each
wait of a millisecond or more.
"""

import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from contextlib import contextmanager, suppress
from pathlib import Path

from .. import green, metrics
from .base import (
    IN_FLIGHT,
    LIVE_STATES,
    Claim,
    ExportRecord,
    JobRecord,
    StateStore,
    StateStoreUnavailable,
    kept_for,
)
from .sqlite_waits import PatientConnection

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    done INTEGER NOT NULL,
    answered_late INTEGER NOT NULL,  -- unused; kept so that older files still load
    lease_until REAL NOT NULL,
    expires_at REAL NOT NULL,
    answer TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS exports (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    owner TEXT NOT NULL,
    updated_at REAL NOT NULL,
    lease_until REAL NOT NULL,
    expires_at REAL NOT NULL,
    answer TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS exports_by_expiry ON exports (expires_at);
CREATE INDEX IF NOT EXISTS jobs_by_expiry ON jobs (expires_at);
"""
# Every change to an export record is one statement, atomic on its own (autocommit): no
# transaction of several round trips around it. An expired row with the same key is
# replaced; other expired rows are deleted in batches by check().
_INSERT = (
    "INSERT INTO exports (key, state, owner, updated_at, lease_until, expires_at, answer) "
    "VALUES (:key, :state, :owner, :updated_at, :lease_until, :expires_at, :answer) "
)
REPLACE = (
    _INSERT + "ON CONFLICT (key) DO UPDATE SET state = excluded.state, owner = excluded.owner, "
    "updated_at = excluded.updated_at, lease_until = excluded.lease_until, "
    "expires_at = excluded.expires_at, answer = excluded.answer "
)
CLAIM = REPLACE + "WHERE exports.expires_at <= excluded.updated_at"
ADVANCE = REPLACE + (
    "WHERE exports.owner = excluded.owner OR exports.expires_at <= excluded.updated_at"
)
CLEANUP_BATCH = 1000  # expired rows deleted per table and check, through the expiry index


class SQLiteStateStore(StateStore):
    """Each change is one atomic statement; reads see only unexpired rows."""

    def __init__(self, path: str):
        self.path = Path(path)
        self._local = green.os_thread_local()
        self._reopening = threading.Lock()
        self._known: tuple[int, int] | None = None  # (st_dev, st_ino) of the file we opened
        # Opened by the first operation: one that fails is answered 503 until it is fixed.

    def describe(self) -> str:
        return f"SQLite file {self.path}"

    # -- the connection, and noticing a deleted or replaced file ---------------------------

    def _identity(self) -> tuple[int, int] | None:
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            return None
        return status.st_dev, status.st_ino

    def connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        identity = self._identity()
        if db is not None and identity is not None and identity == self._local.identity:
            return db
        self._drop_connection()
        with self._reopening:
            if identity is None or identity != self._known:
                identity = self._notice_loss(identity)
            db = sqlite3.connect(
                self.path, timeout=0, isolation_level=None, factory=PatientConnection
            )
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(SCHEMA)
            except sqlite3.Error:
                db.close()
                raise
            identity = self._identity()
            self._known = identity
        self._local.db, self._local.identity = db, identity
        return db

    def _notice_loss(self, identity):
        """The file is missing or not the one we had open: say so, and start a new one."""
        if identity is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._file_lock():  # one process at a time removes a dead file's journal
                if self._identity() is None:
                    for suffix in ("-wal", "-shm"):  # they belong to the deleted file
                        Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            what = "was deleted"
        else:
            what = "was replaced by another file"
        if self._known is not None:
            log.error(
                "the SQLite state file %s %s: every remembered export and job is forgotten "
                "(a repeat of a delivered export can be sent again); starting a new one",
                self.path,
                what,
            )
            metrics.STATE_LOST.inc()
        return self._identity()

    @contextmanager
    def _file_lock(self):
        with open(f"{self.path}.lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            yield

    def _drop_connection(self) -> None:
        db = getattr(self._local, "db", None)
        self._local.db = None
        if db is not None:
            with suppress(sqlite3.Error):  # its file is gone or broken: nothing left to close
                db.close()

    @contextmanager
    def _using(self, transaction: bool = False):
        """The thread's connection (in a write transaction of several statements when
        ``transaction``, else each statement commits on its own); errors → 503."""
        try:
            db = self.connection()
            if not transaction:
                yield db
                return
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except (sqlite3.Error, OSError) as error:
            self._drop_connection()  # reopened by the next operation: recovers by itself
            raise StateStoreUnavailable(self.describe(), str(error)) from error

    # -- exports ---------------------------------------------------------------------------

    def claim(self, key, owner, lease_s, state=IN_FLIGHT, ttl_s=0) -> Claim:
        row = self._claim_row(key, owner, lease_s, state, ttl_s)
        with self._using() as db:
            while True:
                # One statement, atomic on its own: taken unless a live record holds the key.
                if db.execute(CLAIM, row).rowcount:
                    return Claim(acquired=True)
                record = self._read(db, key, row["updated_at"])
                if record is not None:
                    return Claim(acquired=False, record=record)
                # The holder released it (or it expired) between the two statements: again.

    def take_over(self, key, owner, lease_s, state=IN_FLIGHT, ttl_s=0) -> None:
        with self._using() as db:
            db.execute(REPLACE, self._claim_row(key, owner, lease_s, state, ttl_s))

    def _claim_row(self, key, owner, lease_s, state, ttl_s) -> dict:
        now = time.time()
        expires_at = now + kept_for(state, lease_s, ttl_s)
        return self._row(key, state, owner, now, now + lease_s, expires_at)

    def advance(self, key, owner, state, lease_s, ttl_s, answer) -> None:
        now = time.time()
        lease_until = now + lease_s if state in LIVE_STATES else now
        expires_at = now + kept_for(state, lease_s, ttl_s)
        with self._using() as db:
            # Written unless another owner's live record holds the key; one atomic statement.
            db.execute(ADVANCE, self._row(key, state, owner, now, lease_until, expires_at, answer))

    def release(self, key: str, owner: str) -> None:
        with self._using() as db:
            db.execute("DELETE FROM exports WHERE key = ? AND owner = ?", (key, owner))

    def get(self, key: str) -> ExportRecord | None:
        with self._using() as db:
            return self._read(db, key, time.time())

    def renew(self, claims, jobs, lease_s: float, job_alive_s: float) -> None:
        claims, jobs = list(claims), list(jobs)
        if not claims and not jobs:
            return
        now = time.time()
        with self._using(transaction=True) as db:
            db.executemany(
                "UPDATE exports SET lease_until = :lease, expires_at = CASE state "
                "WHEN :in_flight THEN :lease ELSE expires_at END "
                "WHERE key = :key AND owner = :owner AND state IN (:in_flight, :sent)",
                [
                    {
                        "lease": now + lease_s,
                        "key": key,
                        "owner": owner,
                        "in_flight": LIVE_STATES[0],
                        "sent": LIVE_STATES[1],
                    }
                    for key, owner in claims
                ],
            )
            db.executemany(
                "UPDATE jobs SET lease_until = ? WHERE id = ? AND done = 0",
                [(now + job_alive_s, job_id) for job_id in jobs],
            )

    # -- jobs ------------------------------------------------------------------------------

    def create_job(self, job_id: str, alive_s: float, ttl_s: float) -> None:
        now = time.time()
        with self._using() as db:
            db.execute(
                "INSERT INTO jobs (id, done, answered_late, lease_until, expires_at, answer) "
                "VALUES (?, 0, 1, ?, ?, '{}')",
                (job_id, now + alive_s, now + ttl_s),
            )

    def finish_job(self, job_id: str, answer: dict, ttl_s: float) -> None:
        with self._using() as db:
            db.execute(
                "UPDATE jobs SET done = 1, answer = ?, expires_at = ? WHERE id = ?",
                (json.dumps(answer), time.time() + ttl_s, job_id),
            )

    def get_job(self, job_id: str) -> JobRecord | None:
        with self._using() as db:
            row = db.execute(
                "SELECT done, answer, lease_until FROM jobs WHERE id = ? AND expires_at > ?",
                (job_id, time.time()),
            ).fetchone()
        if row is None:
            return None
        done, answer, alive_until = row
        return JobRecord(bool(done), json.loads(answer), alive_until)

    def check(self) -> None:
        """Notice a deleted file (by opening it), and delete a batch of expired rows."""
        now = time.time()
        with self._using(transaction=True) as db:
            for table, key in (("exports", "key"), ("jobs", "id")):
                db.execute(
                    f"DELETE FROM {table} WHERE {key} IN "  # table and key names are constants
                    f"(SELECT {key} FROM {table} WHERE expires_at <= ? LIMIT ?)",
                    (now, CLEANUP_BATCH),
                )

    # -- rows ------------------------------------------------------------------------------

    @staticmethod
    def _read(db, key: str, now: float) -> ExportRecord | None:
        row = db.execute(
            "SELECT state, owner, updated_at, lease_until, answer FROM exports "
            "WHERE key = ? AND expires_at > ?",
            (key, now),
        ).fetchone()
        if row is None:
            return None
        state, owner, updated_at, lease_until, answer = row
        return ExportRecord(state, owner, updated_at, lease_until, json.loads(answer))

    @staticmethod
    def _row(key, state, owner, updated_at, lease_until, expires_at=None, answer=None) -> dict:
        return {
            "key": key,
            "state": state,
            "owner": owner,
            "updated_at": updated_at,
            "lease_until": lease_until,
            "expires_at": lease_until if expires_at is None else expires_at,
            "answer": "{}" if not answer else json.dumps(answer),
        }
