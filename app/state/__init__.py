"""The state store (SPEC §9): remembered exports, claims and jobs, chosen by ``STATE_URL``."""

from urllib.parse import urlsplit

from .base import (
    DELIVERED,
    IN_FLIGHT,
    SENT,
    UNKNOWN,
    Claim,
    ExportRecord,
    JobRecord,
    StateStore,
    StateStoreUnavailable,
    VolatileStateError,
)
from .sqlite import SQLiteStateStore

__all__ = [
    "is_redis",
    "DELIVERED",
    "IN_FLIGHT",
    "SENT",
    "UNKNOWN",
    "Claim",
    "ExportRecord",
    "JobRecord",
    "StateStore",
    "StateStoreUnavailable",
    "VolatileStateError",
    "open_store",
]


def is_redis(url: str) -> bool:
    return urlsplit(url).scheme in ("redis", "rediss", "unix")


def open_store(url: str, volatile_ok: bool = True) -> StateStore:
    """``sqlite:///relative/path``, ``sqlite:////absolute/path`` or ``redis://host:port/db``.

    Unless ``volatile_ok``, a Redis that keeps no persistence raises
    :class:`VolatileStateError`.
    """
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        return SQLiteStateStore(url.removeprefix("sqlite:///"))
    if is_redis(url):
        from .redis import RedisStateStore  # imported only by deployments that use it

        store = RedisStateStore(url)
        if not volatile_ok:
            store.refuse_volatile()
        return store
    raise ValueError(f"STATE_URL {url!r}: use a sqlite:/// or a redis:// URL")
