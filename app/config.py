"""Every environment variable the service reads, typed, with its default.

Nothing else in the package reads ``os.environ``: the rest of the code gets its
settings from ``current_app.config`` or from its arguments. This module imports nothing
from the package: gunicorn.conf.py loads it on its own to check the environment before
any worker starts.
"""

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Config:
    """Service configuration; field names are the environment variable names."""

    LOG_LEVEL: str = "INFO"
    # Rossum API calls: the read timeout, and the longest wait a 429 Retry-After may impose.
    ROSSUM_TIMEOUT_S: float = 20.0
    ROSSUM_RETRY_AFTER_MAX_S: float = 5.0
    # The customer's API: connect and read timeouts of one export request.
    TARGET_CONNECT_TIMEOUT_S: float = 5.0
    TARGET_READ_TIMEOUT_S: float = 55.0
    # Limits (SPEC §11): the longest reply body kept (stored, used by extract).
    MAX_REPLY_BYTES: int = 10 * 1024 * 1024
    # retry mode (SPEC §9): short timeouts, backoff base, and the total time budget.
    RETRY_CONNECT_TIMEOUT_S: float = 3.0
    RETRY_READ_TIMEOUT_S: float = 10.0
    RETRY_BACKOFF_S: float = 0.5
    RETRY_BUDGET_S: float = 25.0
    # Duplicate protection (SPEC §9).
    STATE_URL: str = "sqlite:///var/state.sqlite3"
    DEDUP_TTL_S: float = 7 * 24 * 3600.0
    DEDUP_WAIT_S: float = 120.0
    # Claims (SPEC §9 "Crashes"): renewed every HEARTBEAT_S by their owner; a claim ends
    # CLAIM_LEASE_S after its owner's last beat (0: 2 × the longest attempt + 60 s).
    HEARTBEAT_S: float = 5.0
    CLAIM_LEASE_S: float = 0.0
    # Redis without persistence (no AOF, no RDB saves) is refused unless this is set.
    STATE_VOLATILE_OK: bool = False
    # Asynchronous answers (SPEC §9).
    SYNC_WAIT_S: float = 20.0
    JOB_TTL_S: float = 3600.0
    # At most this many exports run at once per worker; created as needed (gevent: greenlets).
    JOB_THREADS: int = 100
    PUBLIC_URL: str = ""
    TRUST_PROXY: bool = False
    # Operability: metrics shared by gunicorn workers (set by gunicorn.conf.py).
    PROMETHEUS_MULTIPROC_DIR: str = ""
    # Security (SPEC §7).
    HOOK_SECRET: str = ""
    ALLOWED_ROSSUM_HOSTS: str = "*.rossum.app,*.rossum.ai"
    ALLOW_PRIVATE_TARGETS: bool = False
    MAX_PAYLOAD_BYTES: int = 10 * 1024 * 1024

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Config":
        """Read the configuration from ``environ`` (default: the process environment).

        A value the service cannot run with raises ConfigError: one line naming the
        variable, what is wrong with it and an example.
        """
        environ = os.environ if environ is None else environ
        values = {}
        for field in fields(cls):
            raw = environ.get(field.name)
            if raw is None or raw == "":
                continue
            example = EXAMPLES.get(field.name, plain(field.default))
            try:
                values[field.name] = parse_value(field.type, raw)
            except ValueError:
                raise ConfigError(field.name, raw, f"is not {KINDS[field.type]}", example) from None
            try:
                check_value(field.name, values[field.name])
            except ValueError as problem:
                raise ConfigError(field.name, raw, str(problem), example) from None
        return cls(**values)

    def as_flask_config(self) -> dict:
        """The values as a dict for ``app.config.update``."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


class ConfigError(ValueError):
    """An environment variable the service cannot start with."""

    def __init__(self, name: str, raw: str, problem: str, example):
        super().__init__(f"{name}={raw!r} {problem}; for example {name}={example}")
        self.name = name


KINDS = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}
# Examples where the default is not one (the README's table has them all).
EXAMPLES = {
    "STATE_URL": "sqlite:///var/state.sqlite3 or STATE_URL=redis://127.0.0.1:6379/0",
    "PUBLIC_URL": "https://export.example.com",
    "ALLOWED_ROSSUM_HOSTS": "*.rossum.app,http://localhost:8001",
    "TRUST_PROXY": "true",
    "ALLOW_PRIVATE_TARGETS": "true",
}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
AT_LEAST_ONE = frozenset({"JOB_THREADS", "MAX_PAYLOAD_BYTES"})


def longest_attempt_s(config: Mapping) -> float:
    """The longest one export request can take: a wait-mode attempt, or retry mode's budget."""
    wait_attempt = config["TARGET_CONNECT_TIMEOUT_S"] + config["TARGET_READ_TIMEOUT_S"]
    last_retry = config["RETRY_CONNECT_TIMEOUT_S"] + config["RETRY_READ_TIMEOUT_S"]
    return max(wait_attempt, config["RETRY_BUDGET_S"] + last_retry)


def heartbeat_s(config: Mapping) -> float:
    return config["HEARTBEAT_S"]


def claim_lease_s(config: Mapping) -> float:
    """A claim's lease: CLAIM_LEASE_S, at most (and by default) 2 × the longest attempt + 60 s;
    at least three heartbeats, so that one late beat does not end it."""
    ceiling = 2 * longest_attempt_s(config) + 60
    lease = config["CLAIM_LEASE_S"] or ceiling
    return max(min(lease, ceiling), 3 * heartbeat_s(config))


def job_alive_s(config: Mapping) -> float:
    """A running job whose owner missed three beats is dead: its poll answers 404."""
    return 3 * heartbeat_s(config)


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def parse_value(kind: type, raw: str):
    """An environment string as ``kind``; booleans take 1/0, true/false, yes/no, on/off."""
    if kind is bool:
        word = raw.strip().lower()
        if word not in TRUE_WORDS | FALSE_WORDS:
            raise ValueError(raw)
        return word in TRUE_WORDS
    return kind(raw)


def plain(value) -> str:
    """A default as one writes it in the environment (20, not 20.0)."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def check_value(name: str, value) -> None:
    """Raise ValueError saying what is wrong with a parsed value (worded to follow its name)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("is not a finite number")
    if type(value) in (int, float) and value < 0:
        raise ValueError("is negative")
    if name.endswith("TIMEOUT_S") and value == 0:
        raise ValueError("must be more than 0 seconds")
    if name in AT_LEAST_ONE and value < 1:
        raise ValueError("must be at least 1")
    if name == "LOG_LEVEL" and value.strip().upper() not in LOG_LEVELS:
        raise ValueError(f"is not a log level ({', '.join(LOG_LEVELS)})")
    if name == "STATE_URL":
        check_state_url(value)
    if name == "PUBLIC_URL":
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("is not an http(s) URL")
    if name == "ALLOWED_ROSSUM_HOSTS":
        check_rossum_hosts(value)


def check_state_url(url: str) -> None:
    """The shape of a state store URL: a SQLite file, or a Redis server (TCP or socket).

    Only the shape: whether the store can be opened is found out when it is used.
    """
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        if not url.startswith("sqlite:///") or not url.removeprefix("sqlite:///").strip("/"):
            raise ValueError(
                "names no SQLite file (sqlite:///relative/path or sqlite:////abs/path)"
            )
    elif parts.scheme in ("redis", "rediss"):
        try:
            port = parts.port
        except ValueError:
            port = -1
        if not parts.hostname or port == -1:
            raise ValueError("is not a Redis URL (redis://host:port/db)")
    elif parts.scheme == "unix":
        if not parts.path:
            raise ValueError("names no Redis socket (unix:///path/to/redis.sock)")
    else:
        raise ValueError("is not a state store URL: use sqlite:/// (a file) or redis:// (a server)")


def check_rossum_hosts(patterns: str) -> None:
    """Host patterns (``*.rossum.app``) or exact ``http://host:port`` origins, comma-separated."""
    for pattern in filter(None, (p.strip() for p in patterns.split(","))):
        if pattern.lower().startswith("http://"):
            host, _, port = pattern[len("http://") :].rstrip("/").rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(
                    f"has {pattern!r}, but plain http is allowed only as http://host:port"
                )
