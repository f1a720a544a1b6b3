"""The state store (SPEC §9): remembered exports, chosen by ``STATE_URL``."""

from urllib.parse import urlsplit

from .base import DELIVERED, IN_FLIGHT, UNKNOWN, Claim, ExportRecord, JobRecord, StateStore
from .sqlite import SQLiteStateStore

__all__ = [
    "DELIVERED",
    "IN_FLIGHT",
    "UNKNOWN",
    "Claim",
    "ExportRecord",
    "JobRecord",
    "StateStore",
    "open_store",
]


def open_store(url: str) -> StateStore:
    """``sqlite:///relative/path``, ``sqlite:////absolute/path`` or ``redis://host:port/db``."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        return SQLiteStateStore(url.removeprefix("sqlite:///"))
    if scheme in ("redis", "rediss", "unix"):
        from .redis import RedisStateStore  # imported only by deployments that use it

        return RedisStateStore(url)
    raise ValueError(f"STATE_URL {url!r}: use a sqlite:/// or a redis:// URL")
