"""Asynchronous answers (SPEC §9): exports still running after SYNC_WAIT_S answer 202.

A hook call is prepared where it arrives — everything the exports need from Rossum is
fetched while Rossum's token is surely valid — and run on this process's thread pool,
with either state store. The call waits for the run's future up to SYNC_WAIT_S; a run
that outlasts it gets a job record in the state store, kept alive by the heartbeat,
and its answer is stored there when it finishes, so any worker of any instance answers
``GET /jobs/<id>``. A stored answer holds messages and operations only.
"""

import logging
import secrets
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from . import messages, metrics
from .config import job_alive_s
from .messages import HookAnswer
from .payload import HookPayload
from .pipeline import PreparedHook, prepare_hook, run_prepared
from .pipeline.runtime import Runtime
from .redaction import Redactor, bind, unbind
from .state import StateStore, StateStoreUnavailable

log = logging.getLogger(__name__)

CRASHED = HookAnswer(
    [messages.error("Internal error in the REST API export service; it has been logged.")]
)


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
        self.alive_s = job_alive_s(config)
        self.threads = ThreadPoolExecutor(
            max_workers=config["JOB_THREADS"], thread_name_prefix="export-job"
        )

    @property
    def store(self) -> StateStore:
        return self.runtime.state_store

    def answer(self, payload: HookPayload, redactor: Redactor) -> HookAnswer | Accepted:
        """The hook answer if the exports finish in time, else the job that will have it."""
        deadline = time.monotonic() + self.sync_wait_s
        prepared = prepare_hook(payload, self.runtime, redactor)
        if prepared.answer is not None:
            return prepared.answer
        answered_late = False
        prepared.context.rossum.answered_late = lambda: answered_late
        future = self.threads.submit(run_in_background, prepared)
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            answered_late = True
        job_id = secrets.token_urlsafe(24)
        self.store.create_job(job_id, self.alive_s, self.ttl_s)
        self.runtime.heartbeat.keep_job(job_id)
        future.add_done_callback(lambda done: self.store_answer(job_id, done, prepared.redactor))
        log.info(
            "export still running after %.0f s: answered 202 with job %s",
            self.sync_wait_s,
            job_id,
        )
        return Accepted(job_id)

    def store_answer(self, job_id: str, future: Future, redactor: Redactor) -> None:
        """A late run finished: its answer (or the crash message) for the job's polls."""
        try:
            answer = future.result()
        except Exception:  # a bug: the poll must still get an answer, and the log the traceback
            token = bind(redactor)  # the run's own binding ended with it; tracebacks hold values
            try:
                log.exception("export job %s failed unexpectedly", job_id)
            finally:
                unbind(token)
            answer = CRASHED
        try:
            self.store.finish_job(job_id, answer.to_json(), self.ttl_s)
        except StateStoreUnavailable as error:
            log.error("the answer of job %s could not be stored: %s", job_id, error)
        finally:
            self.runtime.heartbeat.drop_job(job_id)

    def shutdown(self) -> None:
        """Finish the exports running here (graceful shutdown), then stop the heartbeat."""
        self.threads.shutdown(wait=True)
        self.runtime.heartbeat.stop()


@metrics.JOBS_RUNNING.track_inprogress()
def run_in_background(prepared: PreparedHook) -> HookAnswer:
    """Run a prepared hook call on a pool thread, its redactor bound to the logs there."""
    token = bind(prepared.redactor)
    try:
        return run_prepared(prepared)
    finally:
        unbind(token)
