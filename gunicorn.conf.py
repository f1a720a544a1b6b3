# gunicorn settings for an I/O-bound service: a few processes, many concurrent requests each,
# since an export spends its time waiting on Rossum and on the customer's API.
import os
import shutil
import tempfile

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gevent: a connection costs a greenlet until its request has arrived and while its
# export waits on a slow target, so slow clients and slow targets do not hold up the
# others (SPEC §11). gthread stays available; there a connection holds a thread.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))  # gthread only
# Above Rossum's longest hook timeout (60 s), so a slow export is not killed mid-request.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "90"))
graceful_timeout = 30
keepalive = 5
accesslog = "-"

# Prometheus multiprocess mode: every worker writes its samples to one directory and
# /metrics sums them. It must be in the environment before prometheus_client is first
# imported, so it is set here, in the master, before any worker is forked.
metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    os.path.join(tempfile.gettempdir(), f"rest-api-export-metrics-{bind.rsplit(':', 1)[1]}"),
)


def on_starting(server):
    shutil.rmtree(metrics_dir, ignore_errors=True)  # counts start again with the service
    os.makedirs(metrics_dir, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
