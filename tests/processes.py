"""The service's own processes for tests: gunicorn instances and Redis on free ports."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

PROJECT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# How long a process may take to answer its first request on a busy machine: gunicorn
# imports the app in every worker, and CI shares two cores with other jobs.
START_TIMEOUT_S = 60.0
# One readiness probe; a worker still importing may hold the connection for a while.
PROBE_TIMEOUT_S = 5.0


def log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ("" when there is none)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_until_up(
    url: str, process: subprocess.Popen, seconds: float = START_TIMEOUT_S, log: Path | None = None
) -> None:
    """Wait until ``url``/healthz answers; any failed request is retried until the deadline."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            requests.get(f"{url}/healthz", timeout=PROBE_TIMEOUT_S).raise_for_status()
            return
        except requests.RequestException:
            time.sleep(0.2)
    exited = process.poll()
    process.kill()
    state = f"exited with status {exited}" if exited is not None else f"no answer in {seconds} s"
    tail = f"; last lines of {log}:\n{log_tail(log)}" if log else ""
    raise RuntimeError(f"{url} did not start ({state}){tail}")


class Processes:
    """Starts processes and stops every one of them at the end of the test."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.running: list[subprocess.Popen] = []
        self.masters: dict[str, subprocess.Popen] = {}  # gunicorn masters by base URL
        self.logs: list[Path] = []

    def env(self, **overrides) -> dict:
        return {**os.environ, **{k: str(v) for k, v in overrides.items()}}

    def gunicorn(self, **env) -> str:
        """A gunicorn instance of the service; returns its base URL."""
        port = free_port()
        metrics = self.tmp_path / f"metrics-{port}"
        log = self.tmp_path / f"gunicorn-{port}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"],
            cwd=PROJECT,
            env=self.env(PORT=port, PROMETHEUS_MULTIPROC_DIR=metrics, **env),
            stdout=subprocess.DEVNULL,
            stderr=open(log, "wb"),  # noqa: SIM115
        )
        self.running.append(process)
        self.logs.append(log)
        url = f"http://127.0.0.1:{port}"
        self.masters[url] = process
        wait_until_up(url, process, log=log)
        return url

    def worker_pids(self, url: str) -> list[int]:
        """The pids of the worker processes of the gunicorn instance serving ``url``."""
        master = self.masters[url].pid
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        return [int(pid) for pid in children]

    def kill_worker(self, url: str) -> int:
        """SIGKILL the (single) worker of the instance at ``url``; its master starts another."""
        (pid,) = self.worker_pids(url)
        os.kill(pid, signal.SIGKILL)
        return pid

    def redis_server(self, persistence: bool = True, port: int | None = None) -> str:
        """A private redis-server (with AOF unless told not to) on ``port`` or a free one."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not installed")
        port = port or free_port()
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if persistence else "no",
                "--appendfilename",
                f"appendonly-{port}.aof",
                "--dir",
                str(self.tmp_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.running.append(process)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=PROBE_TIMEOUT_S).close()
                return f"redis://127.0.0.1:{port}/0"
            except OSError:
                time.sleep(0.05)
        process.kill()
        raise RuntimeError(f"redis-server on port {port} did not start")

    def log_tails(self) -> list[tuple[str, str]]:
        """(file name, last lines) of every log the started processes wrote."""
        tails = [(log.name, log_tail(log)) for log in dict.fromkeys(self.logs)]
        return [(name, tail) for name, tail in tails if tail]

    def stop_all(self) -> None:
        for process in reversed(self.running):
            process.terminate()
        for process in self.running:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
