# gunicorn settings for an I/O-bound service: a few processes, many threads each,
# since an export spends its time waiting on Rossum and on the customer's API.
import os
import shutil
import sys
import tempfile

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Above Rossum's longest hook timeout (60 s), so a slow export is not killed mid-request.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "90"))
keepalive = 5
accesslog = "-"

# Prometheus multiprocess mode: every worker writes its samples to one directory and
# /metrics sums them. It must be in the environment before prometheus_client is first
# imported, so it is set here, in the master, before any worker is forked.
metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    os.path.join(tempfile.gettempdir(), f"rest-api-export-metrics-{bind.rsplit(':', 1)[1]}"),
)

# Imported only now (the directory must exist): the app's metrics use it from the start.
os.makedirs(metrics_dir, exist_ok=True)
from app.config import Config, longest_attempt_s  # noqa: E402

# On SIGTERM a worker stops accepting calls and finishes the exports it runs, in the
# foreground and in the background: the longest attempt, plus Rossum calls around it.
_config = Config.from_env().as_flask_config()
graceful_timeout = int(longest_attempt_s(_config) + 2 * _config["ROSSUM_TIMEOUT_S"]) + 5


def on_starting(server):
    refuse_volatile_state()
    shutil.rmtree(metrics_dir, ignore_errors=True)  # counts start again with the service
    os.makedirs(metrics_dir, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def refuse_volatile_state():
    """A Redis without persistence: one clear line and no start (unless STATE_VOLATILE_OK)."""
    from app.state import VolatileStateError, is_redis, open_store

    if is_redis(_config["STATE_URL"]):
        try:
            open_store(_config["STATE_URL"], volatile_ok=_config["STATE_VOLATILE_OK"])
        except VolatileStateError as error:
            sys.exit(f"rest-api-export refuses to start: {error}")


def post_worker_init(worker):
    runtime = worker.wsgi.extensions.get("runtime")
    if runtime is not None:  # beats from the start: a lost state store is noticed idle too
        runtime.heartbeat.start()


def worker_exit(server, worker):
    jobs = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("jobs")
    if jobs is not None:
        jobs.shutdown()  # the exports answered 202 finish before the worker exits
