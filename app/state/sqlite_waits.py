"""SQLite connections that wait for another process's lock without stopping the worker.

SQLite's own busy handler sleeps inside the C call; under gevent that stops every
greenlet of the worker for each wait of a millisecond or more. A
:class:`PatientConnection` is opened with that handler off (``timeout=0``) and waits in
Python instead, in a sleep gevent makes a greenlet's.
"""

import sqlite3
import time

BUSY_TIMEOUT_S = 10  # how long a statement waits for another process's write lock
FIRST_BUSY_PAUSE_S = 0.001
LONGEST_BUSY_PAUSE_S = 0.05


def locked_by_another(error: sqlite3.Error) -> bool:
    """SQLITE_BUSY (any extended code): another connection holds the lock."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


class PatientConnection(sqlite3.Connection):
    """Opened with SQLite's busy handler off (``timeout=0``): a statement that finds the
    file locked raises at once, and is run again after a pause that yields (``time.sleep``,
    which gevent makes a greenlet's sleep), backing off, for up to BUSY_TIMEOUT_S.

    Running a statement again is safe: one that got SQLITE_BUSY did nothing. Inside a
    ``BEGIN IMMEDIATE`` only the BEGIN can get it; the statements after it hold the lock.
    """

    def execute(self, *args):
        return self._patiently(super().execute, args)

    def executemany(self, *args):
        return self._patiently(super().executemany, args)

    def executescript(self, *args):
        return self._patiently(super().executescript, args)

    @staticmethod
    def _patiently(run, args):
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        pause = FIRST_BUSY_PAUSE_S
        while True:
            try:
                return run(*args)
            except sqlite3.OperationalError as error:
                if not locked_by_another(error) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, LONGEST_BUSY_PAUSE_S)
