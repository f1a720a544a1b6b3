"""Every environment variable the service reads, typed, with its default.

Nothing else in the package reads ``os.environ``: the rest of the code gets its
settings from ``current_app.config`` or from its arguments.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields


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
    JOB_THREADS: int = 8
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
        """Read the configuration from ``environ`` (default: the process environment)."""
        environ = os.environ if environ is None else environ
        values = {}
        for field in fields(cls):
            raw = environ.get(field.name)
            if raw is None or raw == "":
                continue
            try:
                values[field.name] = parse_value(field.type, raw)
            except ValueError:
                raise ValueError(
                    f"environment variable {field.name}={raw!r} is not a valid {field.type}"
                ) from None
        return cls(**values)

    def as_flask_config(self) -> dict:
        """The values as a dict for ``app.config.update``."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


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
