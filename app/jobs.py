"""Asynchronous answers (SPEC §9): exports still running after SYNC_WAIT_S answer 202.

The hook call is prepared where it arrives — everything the exports need from Rossum
is fetched while Rossum's token is surely valid — then the exports run in the
background: on a thread pool of this process (embedded SQLite state) or on RQ
workers (Redis state, several instances). The job's answer is stored in the state
store, so any worker or instance answers ``GET /jobs/<id>``. A stored answer holds
messages and operations only.
"""

import base64
import json
import logging
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import cache, cached_property

from . import messages, metrics
from .config import Config
from .errors import ServiceError
from .messages import HookAnswer
from .payload import HookPayload
from .pipeline import PreparedHook, prepare_hook, restore_prepared, run_prepared
from .pipeline.runtime import Runtime
from .redaction import Redactor, bind, unbind
from .state import StateStore

log = logging.getLogger(__name__)

QUEUE = "rest-api-export"
QUEUE_POLL_INTERVAL_S = 0.02


CRASHED = HookAnswer(
    [messages.error("Internal error in the REST API export service; it has been logged.")]
)


class ExportCrashed(ServiceError):
    """A bug stopped an export; its traceback is logged (answered 500)."""


@dataclass(frozen=True)
class Accepted:
    """The hook call was answered 202; poll the job."""

    job_id: str


class JobService:
    """Answers hook calls within SYNC_WAIT_S, or with a job to poll."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        config = runtime.config
        self.sync_wait_s = config["SYNC_WAIT_S"]
        self.ttl_s = config["JOB_TTL_S"]
        self.lease_s = runtime.longest_export_s()
        self.uses_rq = config["STATE_URL"].startswith(("redis:", "rediss:", "unix:"))
        self.threads = (
            None
            if self.uses_rq
            else ThreadPoolExecutor(
                max_workers=config["JOB_THREADS"], thread_name_prefix="export-job"
            )
        )

    @property
    def store(self) -> StateStore:
        return self.runtime.state_store

    def answer(self, payload: HookPayload, redactor: Redactor) -> HookAnswer | Accepted:
        deadline = time.monotonic() + self.sync_wait_s
        prepared = prepare_hook(payload, self.runtime, redactor)
        if prepared.answer is not None:
            return prepared.answer
        if self.uses_rq:
            stored, job_id = self.answer_from_queue(prepared, deadline)
        else:
            stored, job_id = self.answer_from_thread(prepared, deadline)
        if stored is None:
            log.info(
                "export still running after %.0f s: answered 202 with job %s",
                self.sync_wait_s,
                job_id,
            )
            return Accepted(job_id)
        if stored.get("crashed"):
            raise ExportCrashed()
        return answer_of(stored)

    def answer_from_thread(self, prepared: PreparedHook, deadline: float):
        """Run on this process's pool; a job record is made only if the answer is late."""
        job = LocalJob(self.store, self.lease_s, self.ttl_s)
        prepared.context.rossum.answered_late = lambda: job.job_id is not None
        self.threads.submit(job.run, prepared)
        return job.answer_by(deadline)

    def answer_from_queue(self, prepared: PreparedHook, deadline: float):
        """Run on an RQ worker; any instance can then answer the job's polls."""
        job_id = secrets.token_urlsafe(24)
        self.store.create_job(job_id, self.lease_s, self.ttl_s)
        self.enqueue(job_id, prepared)
        while time.monotonic() < deadline:
            job = self.store.get_job(job_id)
            if job is not None and job.done:
                return job.answer, job_id
            time.sleep(QUEUE_POLL_INTERVAL_S)
        self.store.mark_job_late(job_id)
        return None, job_id

    @cached_property
    def queue(self):
        """The RQ queue, on the Redis connection pool the state store already has."""
        from rq import Queue

        return Queue(QUEUE, connection=self.store.redis)

    def enqueue(self, job_id: str, prepared: PreparedHook) -> None:
        self.store.put_job_input(job_id, serialize(prepared), self.ttl_s)
        self.queue.enqueue_call(
            run_queued_job,
            args=(job_id,),
            description=f"export job {job_id}",  # never the payload: it holds secrets
            timeout=int(self.lease_s),
            result_ttl=0,
            failure_ttl=int(self.ttl_s),
        )


def answer_of(stored: dict) -> HookAnswer:
    return HookAnswer(
        [messages.Message(m["type"], m["content"]) for m in stored.get("messages", [])],
        list(stored.get("operations", [])),
    )


class LocalJob:
    """An export on this process's thread pool, and the hand-over if it outlasts the wait."""

    def __init__(self, store: StateStore, lease_s: float, ttl_s: float):
        self.store, self.lease_s, self.ttl_s = store, lease_s, ttl_s
        self.lock = threading.Lock()
        self.finished = threading.Event()
        self.stored: dict | None = None
        self.job_id: str | None = None  # set when the hook call was answered 202

    def run(self, prepared: PreparedHook) -> None:
        stored = answer_to_store(prepared)
        with self.lock:
            self.stored = stored
            if self.job_id is not None:
                self.store.finish_job(self.job_id, stored, self.ttl_s)
        self.finished.set()

    def answer_by(self, deadline: float) -> tuple[dict | None, str | None]:
        """The answer if it comes in time; else a job id to answer 202 with."""
        self.finished.wait(max(0.0, deadline - time.monotonic()))
        with self.lock:
            if self.stored is None:
                self.job_id = secrets.token_urlsafe(24)
                self.store.create_job(self.job_id, self.lease_s, self.ttl_s)
                self.store.mark_job_late(self.job_id)
            return self.stored, self.job_id


@metrics.JOBS_RUNNING.track_inprogress()
def answer_to_store(prepared: PreparedHook) -> dict:
    """Run a prepared hook call; its answer as stored (marked when a bug stopped it)."""
    token = bind(prepared.redactor)
    try:
        return run_prepared(prepared).to_json()
    except Exception:  # a bug: the poll must still get an answer, and the log the traceback
        log.exception("an export job failed unexpectedly")
        return {**CRASHED.to_json(), "crashed": True}
    finally:
        unbind(token)


def serialize(prepared: PreparedHook) -> bytes:
    """What an RQ worker needs: the payload and the fetched content and files."""
    return json.dumps(
        {
            "payload": asdict(prepared.payload),
            "fetched": prepared.context.fetched(encode=lambda b: base64.b64encode(b).decode()),
        }
    ).encode()


@cache
def worker_runtime() -> Runtime:
    """An RQ worker process's runtime, configured from the environment like the web app."""
    return Runtime(Config.from_env().as_flask_config())


def run_queued_job(job_id: str) -> None:
    """The RQ job: run the export a web instance prepared and answered 202 for, or will."""
    runtime = worker_runtime()
    store = runtime.state_store
    data = store.take_job_input(job_id)
    if data is None:
        log.error("export job %s has no input (expired before a worker took it)", job_id)
        return
    document = json.loads(data)
    payload = HookPayload(**document["payload"])
    redactor = Redactor.for_payload(payload.secrets, payload.rossum_token)
    prepared = restore_prepared(payload, runtime, redactor, document["fetched"], base64.b64decode)
    prepared.context.rossum.answered_late = lambda: answered_late(store, job_id)
    store.finish_job(job_id, answer_to_store(prepared), runtime.config["JOB_TTL_S"])


def answered_late(store: StateStore, job_id: str) -> bool:
    job = store.get_job(job_id)
    return job is not None and job.answered_late
