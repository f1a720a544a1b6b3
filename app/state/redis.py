"""The shared state store: Redis, for several instances of the service (SPEC §9).

Keys expire by Redis TTL. A claim is ``SET NX``; changes that must check the owner
are small Lua scripts, so every operation is atomic across instances.
"""

import json
import time

import redis

from .base import IN_FLIGHT, Claim, ExportRecord, JobRecord, StateStore

PREFIX = "rest-api-export"

# KEYS[1]: the record; ARGV[1]: owner; ARGV[2]: new value (or "" to delete); ARGV[3]: ttl ms
OWNER_CHECKED_WRITE = """
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current)['owner'] ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
"""


def ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisStateStore(StateStore):
    def __init__(self, url: str):
        self.redis = redis.Redis.from_url(url)
        self._owner_checked_write = self.redis.register_script(OWNER_CHECKED_WRITE)

    @staticmethod
    def export_key(key: str) -> str:
        return f"{PREFIX}:export:{key}"

    @staticmethod
    def job_key(job_id: str) -> str:
        return f"{PREFIX}:job:{job_id}"

    @staticmethod
    def record(state, owner, lease_until, answer) -> str:
        return json.dumps(
            {
                "state": state,
                "owner": owner,
                "updated_at": time.time(),
                "lease_until": lease_until,
                "answer": answer,
            }
        )

    def claim(self, key: str, owner: str, lease_s: float, ttl_s: float) -> Claim:
        value = self.record(IN_FLIGHT, owner, time.time() + lease_s, {})
        if self.redis.set(self.export_key(key), value, nx=True, px=ms(ttl_s)):
            return Claim(acquired=True)
        record = self.get(key)
        if record is None:  # expired in between: try once more
            return self.claim(key, owner, lease_s, ttl_s)
        return Claim(acquired=False, record=record)

    def take_over(self, key: str, owner: str, lease_s: float, ttl_s: float) -> None:
        value = self.record(IN_FLIGHT, owner, time.time() + lease_s, {})
        self.redis.set(self.export_key(key), value, px=ms(ttl_s))

    def finish(self, key: str, owner: str, state: str, answer: dict, ttl_s: float) -> None:
        value = self.record(state, owner, time.time(), answer)
        self._owner_checked_write(keys=[self.export_key(key)], args=[owner, value, ms(ttl_s)])

    def release(self, key: str, owner: str) -> None:
        self._owner_checked_write(keys=[self.export_key(key)], args=[owner, "", 1])

    def get(self, key: str) -> ExportRecord | None:
        raw = self.redis.get(self.export_key(key))
        if raw is None:
            return None
        data = json.loads(raw)
        return ExportRecord(
            data["state"], data["owner"], data["updated_at"], data["lease_until"], data["answer"]
        )

    def create_job(self, job_id: str, lease_s: float, ttl_s: float) -> None:
        job = {
            "done": False,
            "answer": {},
            "answered_late": False,
            "lease_until": time.time() + lease_s,
        }
        self.redis.set(self.job_key(job_id), json.dumps(job), px=ms(ttl_s))

    def mark_job_late(self, job_id: str) -> None:
        self._update_job(job_id, answered_late=True)

    def finish_job(self, job_id: str, answer: dict, ttl_s: float) -> None:
        self._update_job(job_id, ttl_s, done=True, answer=answer)

    def _update_job(self, job_id: str, ttl_s: float | None = None, **changes) -> None:
        key = self.job_key(job_id)
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    job = {**json.loads(raw or "{}"), **changes}
                    pipe.multi()
                    if ttl_s is None:
                        pipe.set(key, json.dumps(job), keepttl=True)
                    else:
                        pipe.set(key, json.dumps(job), px=ms(ttl_s))
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue

    def get_job(self, job_id: str) -> JobRecord | None:
        raw = self.redis.get(self.job_key(job_id))
        if raw is None:
            return None
        job = json.loads(raw)
        return JobRecord(job["done"], job["answer"], job["answered_late"], job["lease_until"])

    def put_job_input(self, job_id: str, data: bytes, ttl_s: float) -> None:
        self.redis.set(f"{PREFIX}:job-input:{job_id}", data, px=ms(ttl_s))

    def take_job_input(self, job_id: str) -> bytes | None:
        return self.redis.getdel(f"{PREFIX}:job-input:{job_id}")
