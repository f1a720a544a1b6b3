# gunicorn settings for an I/O-bound service: a few processes, many concurrent requests each,
# since an export spends its time waiting on Rossum and on the customer's API.
import importlib.util
import os
import shutil
import sys
import tempfile


def check_environment() -> None:
    """The service's environment checked here, in the master, before any worker starts.

    app/config.py is loaded on its own (it imports nothing from the package), so the
    master does not import the app; a value the service cannot use ends the start with
    its one line, rather than each worker failing on it.
    """
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "app", "config.py")
    spec = importlib.util.spec_from_file_location("rest_api_export_config_check", path)
    config = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(config)
    try:
        config.Config.from_env()
    except config.ConfigError as error:
        sys.exit(f"rest-api-export cannot start: {error}")


def whole_number(name: str, default: int) -> int:
    """An environment variable as a count of at least 1; else one line and exit status 1."""
    raw = os.environ.get(name) or str(default)
    if not raw.strip().isdigit() or int(raw) < 1:
        sys.exit(
            f"rest-api-export cannot start: {name}={raw!r} is not a whole number of at least 1;"
            f" for example {name}={default}"
        )
    return int(raw)


check_environment()
bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = whole_number("WEB_CONCURRENCY", 2)
# gevent: a connection costs a greenlet until its request has arrived and while its
# export waits on a slow target, so slow clients and slow targets do not hold up the
# others (SPEC §11). gthread stays available; there a connection holds a thread.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
worker_connections = whole_number("GUNICORN_WORKER_CONNECTIONS", 1000)
threads = whole_number("GUNICORN_THREADS", 8)  # gthread only
# Above Rossum's longest hook timeout (60 s), so a slow export is not killed mid-request.
timeout = whole_number("GUNICORN_TIMEOUT", 90)
graceful_timeout = 30
keepalive = 5
accesslog = "-"
# gunicorn 25.1+ opens a control socket at one per-user path; instances of the service that
# share a machine (a VM running two, the tests) would take it from each other.
control_socket_disable = True

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
