"""The shared state store: Redis, for several instances of the service (SPEC §9).

Records are hashes that expire by Redis's own TTL (no cleanup scans). Every change
that must check the owner is a small Lua script, so each operation is one atomic round
trip across instances; a heartbeat renews all of a process's leases in one pipeline.

Redis must keep its data across restarts (AOF or RDB saves): :func:`refuse_volatile`
checks that at start. A marker key that disappears while the service runs means
Redis lost its data (``FLUSHALL``, a restart without persistence): :meth:`check`
logs it at ERROR and counts it.
"""

import json
import logging
import time
import uuid
from contextlib import contextmanager
from urllib.parse import urlsplit

import redis

from .. import metrics
from .base import (
    IN_FLIGHT,
    LIVE_STATES,
    Claim,
    ExportRecord,
    JobRecord,
    StateStore,
    StateStoreUnavailable,
    VolatileStateError,
    kept_for,
)

log = logging.getLogger(__name__)

PREFIX = "rest-api-export"
MARKER = f"{PREFIX}:memory-marker"
SOCKET_TIMEOUT_S = 5

# KEYS[1]: record; ARGV: owner, now, lease_until, expiry ms, state → [] when claimed, else
# the record
CLAIM = """
local existing = redis.call('HGETALL', KEYS[1])
if #existing > 0 then return existing end
redis.call('HSET', KEYS[1], 'state', ARGV[5], 'owner', ARGV[1], 'updated_at', ARGV[2],
  'lease_until', ARGV[3], 'answer', '{}')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {}
"""
# KEYS[1]: record; ARGV: owner, state, now, lease_until, answer, ttl ms (another's: no-op)
ADVANCE = """
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'owner', ARGV[1], 'updated_at', ARGV[3],
  'lease_until', ARGV[4], 'answer', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 1
"""
# KEYS[1]: record; ARGV: owner
RELEASE = """
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""
# KEYS[1]: record; ARGV: owner, lease_until, lease ms — a live claim of this owner only
RENEW_CLAIM = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'in_flight' then
  redis.call('HSET', KEYS[1], 'lease_until', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
elseif state == 'sent' then
  redis.call('HSET', KEYS[1], 'lease_until', ARGV[2])
end
return 1
"""
# KEYS[1]: job; ARGV: alive_until
RENEW_JOB = """
if redis.call('HGET', KEYS[1], 'done') == '0' then
  redis.call('HSET', KEYS[1], 'alive_until', ARGV[1])
end
return 1
"""


def ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisStateStore(StateStore):
    def __init__(self, url: str):
        parts = urlsplit(url)
        self.name = f"Redis at {parts.hostname or parts.path}" + (
            f":{parts.port}" if parts.port else ""
        )
        self.redis = redis.Redis.from_url(
            url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S
        )
        self._claim = self.redis.register_script(CLAIM)
        self._advance = self.redis.register_script(ADVANCE)
        self._release = self.redis.register_script(RELEASE)
        self._renew_claim = self.redis.register_script(RENEW_CLAIM)
        self._renew_job = self.redis.register_script(RENEW_JOB)
        self._marker: str | None = None  # the marker value this process last saw

    def describe(self) -> str:
        return self.name

    @contextmanager
    def _using(self):
        try:
            yield self.redis
        except redis.RedisError as error:  # redis-py reconnects by itself on the next call
            raise StateStoreUnavailable(
                self.describe(), str(error) or type(error).__name__
            ) from error

    @staticmethod
    def export_key(key: str) -> str:
        return f"{PREFIX}:export:{key}"

    @staticmethod
    def job_key(job_id: str) -> str:
        return f"{PREFIX}:job:{job_id}"

    # -- exports ---------------------------------------------------------------------------

    def claim(self, key, owner, lease_s, state=IN_FLIGHT, ttl_s=0) -> Claim:
        now = time.time()
        expires_in = kept_for(state, lease_s, ttl_s)
        with self._using():
            existing = self._claim(
                keys=[self.export_key(key)],
                args=[owner, now, now + lease_s, ms(expires_in), state],
            )
        if not existing:
            return Claim(acquired=True)
        fields = dict(zip(existing[::2], existing[1::2], strict=True))
        return Claim(acquired=False, record=self._record(fields))

    def take_over(self, key, owner, lease_s, state=IN_FLIGHT, ttl_s=0) -> None:
        now = time.time()
        record = self.export_key(key)
        expires_in = kept_for(state, lease_s, ttl_s)
        with self._using(), self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(record)
            pipe.hset(
                record,
                mapping={
                    "state": state,
                    "owner": owner,
                    "updated_at": now,
                    "lease_until": now + lease_s,
                    "answer": "{}",
                },
            )
            pipe.pexpire(record, ms(expires_in))
            pipe.execute()

    def advance(self, key, owner, state, lease_s, ttl_s, answer) -> None:
        now = time.time()
        lease_until = now + lease_s if state in LIVE_STATES else now
        expires_in = kept_for(state, lease_s, ttl_s)
        with self._using():
            self._advance(
                keys=[self.export_key(key)],
                args=[owner, state, now, lease_until, json.dumps(answer), ms(expires_in)],
            )

    def release(self, key: str, owner: str) -> None:
        with self._using():
            self._release(keys=[self.export_key(key)], args=[owner])

    def get(self, key: str) -> ExportRecord | None:
        with self._using():
            fields = self.redis.hgetall(self.export_key(key))
        return self._record(fields) if fields else None

    @staticmethod
    def _record(fields: dict) -> ExportRecord:
        fields = {text(name): text(value) for name, value in fields.items()}
        return ExportRecord(
            fields["state"],
            fields["owner"],
            float(fields["updated_at"]),
            float(fields["lease_until"]),
            json.loads(fields["answer"]),
        )

    def renew(self, claims, jobs, lease_s: float, job_alive_s: float) -> None:
        claims, jobs = list(claims), list(jobs)
        if not claims and not jobs:
            return
        now = time.time()
        with self._using(), self.redis.pipeline(transaction=False) as pipe:
            for key, owner in claims:
                self._renew_claim(
                    keys=[self.export_key(key)],
                    args=[owner, now + lease_s, ms(lease_s)],
                    client=pipe,
                )
            for job_id in jobs:
                self._renew_job(keys=[self.job_key(job_id)], args=[now + job_alive_s], client=pipe)
            pipe.execute()

    # -- jobs ------------------------------------------------------------------------------

    def create_job(self, job_id: str, alive_s: float, ttl_s: float) -> None:
        key = self.job_key(job_id)
        with self._using(), self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key, mapping={"done": 0, "answer": "{}", "alive_until": time.time() + alive_s}
            )
            pipe.pexpire(key, ms(ttl_s))
            pipe.execute()

    def finish_job(self, job_id: str, answer: dict, ttl_s: float) -> None:
        key = self.job_key(job_id)
        with self._using(), self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"done": 1, "answer": json.dumps(answer)})
            pipe.pexpire(key, ms(ttl_s))
            pipe.execute()

    def get_job(self, job_id: str) -> JobRecord | None:
        with self._using():
            fields = self.redis.hgetall(self.job_key(job_id))
        if not fields:
            return None
        fields = {text(name): text(value) for name, value in fields.items()}
        return JobRecord(
            fields["done"] == "1", json.loads(fields["answer"]), float(fields["alive_until"])
        )

    # -- a lost memory ---------------------------------------------------------------------

    def check(self) -> None:
        """Notice that the marker key is gone or changed: Redis lost its data."""
        with self._using():
            seen = self.redis.get(MARKER)
            if seen is None:
                self.redis.set(MARKER, uuid.uuid4().hex, nx=True)
                seen = self.redis.get(MARKER)
        seen = text(seen)
        if self._marker is not None and seen != self._marker:
            log.error(
                "%s lost its data (flushed, or restarted without persistence): every "
                "remembered export and job is forgotten; receipts in Rossum still stop "
                "repeats of delivered exports",
                self.describe(),
            )
            metrics.STATE_LOST.inc()
        self._marker = seen

    def refuse_volatile(self) -> None:
        """Raise :class:`VolatileStateError` when Redis keeps neither AOF nor RDB saves."""
        try:
            settings = {
                text(name): text(value)
                for name, value in {
                    **self.redis.config_get("appendonly"),
                    **self.redis.config_get("save"),
                }.items()
            }
        except redis.ResponseError as error:  # CONFIG is disabled on some managed Redis
            log.warning("cannot check %s for persistence (%s)", self.describe(), error)
            return
        except redis.RedisError as error:
            log.error("cannot reach %s at start (%s): answering 503 until it is", self.name, error)
            return
        if settings.get("appendonly") == "no" and not settings.get("save", "").strip():
            raise VolatileStateError(
                f"STATE_URL points at {self.describe()}, which keeps no persistence "
                "(appendonly no, no save rules): a restart would forget every delivered "
                "export. Turn on appendonly yes (or RDB save rules), or set "
                "STATE_VOLATILE_OK=true to run anyway."
            )
