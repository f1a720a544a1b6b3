"""The state store (SPEC §9): remembered exports, chosen by ``STATE_URL``."""

from urllib.parse import urlsplit

from .base import DELIVERED, IN_FLIGHT, UNKNOWN, Claim, ExportRecord, StateStore
from .sqlite import SQLiteStateStore

__all__ = [
    "DELIVERED",
    "IN_FLIGHT",
    "UNKNOWN",
    "Claim",
    "ExportRecord",
    "StateStore",
    "open_store",
]


def open_store(url: str) -> StateStore:
    """``sqlite:///relative/path`` or ``sqlite:////absolute/path``."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return SQLiteStateStore(url.removeprefix("sqlite:///"))
    raise ValueError(f"STATE_URL {url!r}: only sqlite:/// URLs are supported")
