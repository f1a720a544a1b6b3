# gunicorn settings for an I/O-bound service: a few processes, many concurrent requests each,
# since an export spends its time waiting on Rossum and on the customer's API.
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from urllib.parse import urlsplit


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

# On SIGTERM a worker stops accepting calls and finishes the exports it runs, in the
# foreground and in the background: the longest attempt, plus Rossum calls around it.
_settings = sys.modules["rest_api_export_config_check"]  # app/config.py, loaded on its own
_config = _settings.Config.from_env().as_flask_config()
graceful_timeout = int(_settings.longest_attempt_s(_config) + 2 * _config["ROSSUM_TIMEOUT_S"]) + 5


def on_starting(server):
    refuse_volatile_state()
    shutil.rmtree(metrics_dir, ignore_errors=True)  # counts start again with the service
    os.makedirs(metrics_dir, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def refuse_volatile_state():
    """A Redis without persistence: one clear line and no start (unless STATE_VOLATILE_OK).

    Checked in a process of its own, so that the master still imports nothing of the app.
    """
    if urlsplit(_config["STATE_URL"]).scheme not in ("redis", "rediss", "unix"):
        return
    env = {name: value for name, value in os.environ.items() if name != "PROMETHEUS_MULTIPROC_DIR"}
    check = subprocess.run(
        [sys.executable, "-m", "app.state.durability"],
        cwd=os.path.dirname(os.path.abspath(__file__)),
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    if check.returncode != 0:
        sys.exit((check.stderr.strip().splitlines() or ["the Redis check failed"])[-1])


def post_worker_init(worker):
    runtime = getattr(worker.wsgi, "extensions", {}).get("runtime")
    if runtime is not None:  # beats from the start: a lost state store is noticed idle too
        runtime.heartbeat.start()


def worker_exit(server, worker):
    jobs = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("jobs")
    if jobs is not None:
        jobs.shutdown()  # the exports answered 202 finish before the worker exits
