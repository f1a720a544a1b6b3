"""The benchmark (``make bench``): overhead over the floor, throughput, state size, Redis, memory.

Starts everything it measures on free loopback ports — one fake Rossum and target
process (bench.fakes, under gunicorn) that every app uses, the floor (bench.floor) and the service
under the same gunicorn settings, a private redis-server — and prints one Markdown
table for the README. Every process is stopped at the end.

Apps are measured in interleaved blocks (floor, service, … then again in another
order), so a machine that gets busier or quieter during the run moves all of them
alike; a figure is the median over blocks.
"""

import argparse
import itertools
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.fakes import ROSSUM_TOKEN, TARGET_PREFIX
from tests.builders import build_payload

PROJECT = Path(__file__).resolve().parent.parent
WORKERS, THREADS = "2", "8"
REMEMBERED = 100_000  # exports pre-filled in the "full" state file
STARTUP_S = 60  # a worker importing on a busy machine may take a while
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SEQUENCE = itertools.count()  # every export is a new one: no answer from memory


@dataclass
class Options:
    rounds: int
    block: int
    throughput_rounds: int
    exports_per_client: int
    redis: bool
    memory: bool


def options() -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer blocks (about a minute)")
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis columns")
    parser.add_argument("--no-memory", action="store_true", help="skip the 50 MB file rows")
    args = parser.parse_args()
    return Options(
        rounds=4 if args.quick else 10,
        block=15 if args.quick else 20,
        throughput_rounds=2 if args.quick else 5,
        exports_per_client=4 if args.quick else 8,  # 256 exports a block at 32 clients
        redis=not args.no_redis,
        memory=not args.no_memory,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Processes:
    """Everything the benchmark starts, stopped in reverse order at the end."""

    def __init__(self, directory: str):
        self.directory = Path(directory)
        self.running: list[subprocess.Popen] = []

    def start(self, command: list[str], env: dict | None = None, **kwargs) -> subprocess.Popen:
        process = subprocess.Popen(
            command, cwd=PROJECT, env={**os.environ, **(env or {})}, **kwargs
        )
        self.running.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.running):
            if process.stdin:
                process.stdin.close()
            if process.poll() is None:
                process.terminate()
        for process in self.running:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def fakes(self) -> tuple[str, str]:
        """The fakes under gunicorn (kept-alive connections); Rossum's and the target's URL."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        # Connections stay open for the whole run, as a busy API keeps them: none goes stale.
        self.gunicorn(
            "bench.fakes:app", {"BENCH_FAKES_URL": url}, port=port, threads="16", keep_alive=600
        )
        return url, f"{url}{TARGET_PREFIX}"

    def gunicorn(
        self,
        app: str,
        env: dict,
        workers: str = WORKERS,
        port: int = 0,
        threads: str = THREADS,
        keep_alive: int | None = None,
    ) -> "App":
        port = port or free_port()
        log = open(self.directory / f"gunicorn-{port}.log", "wb")  # noqa: SIM115
        process = self.start(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"]
            + ["--access-logfile", "/dev/null", app]
            + (["--keep-alive", str(keep_alive)] if keep_alive else []),
            env={
                "PORT": str(port),
                "WEB_CONCURRENCY": workers,
                "GUNICORN_THREADS": threads,
                "PROMETHEUS_MULTIPROC_DIR": str(self.directory / f"metrics-{port}"),
                **env,
            },
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        url = f"http://127.0.0.1:{port}"
        wait_until_answering(url, process, log.name)
        return App(app, [url], [process])

    def redis_server(self) -> str:
        port = free_port()
        directory = self.directory / f"redis-{port}"
        directory.mkdir()
        process = self.start(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
            + ["--appendonly", "yes", "--appendfsync", "everysec", "--save", "60 1000"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
                    connection.sendall(b"PING\r\n")
                    if connection.recv(16).startswith(b"+PONG"):
                        return f"redis://127.0.0.1:{port}/0"
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("redis-server did not start")


def wait_until_answering(url: str, process: subprocess.Popen, log: str) -> None:
    """Until the app answers anything; a worker still importing makes a call time out."""
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = Path(log).read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{url} exited with {process.returncode}:\n{tail}")
        try:
            requests.post(url, data=b"{}", timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {STARTUP_S} s; see {log}")


@dataclass
class App:
    """One measured app: one or more instances, called in turn."""

    name: str
    urls: list[str]
    processes: list[subprocess.Popen]
    block_latency: list[float] = field(default_factory=list)  # median of each block, seconds
    block_cpu: list[float] = field(default_factory=list)  # CPU seconds per export, each block
    rates: dict[int, list[float]] = field(default_factory=dict)  # clients -> exports/s

    def url(self, n: int) -> str:
        return self.urls[n % len(self.urls)]

    def cpu_seconds(self) -> float:
        return sum(tree_cpu_seconds(process.pid) for process in self.processes)

    def joined(self, other: "App", name: str) -> "App":
        return App(name, self.urls + other.urls, self.processes + other.processes)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its descendants (gunicorn's workers)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / CLOCK_TICKS


def payload(rossum_url: str, target_url: str, key="csv", **request) -> dict:
    settings = {
        "export_reference_key": key,
        "request": {
            "url": f"{target_url}/in?seq={next(SEQUENCE)}",
            "method": "POST",
            "headers": {"Content-Type": "text/csv"},
            **request,
        },
    }
    if "file_key" not in request:
        settings["request"]["content"] = "#{file_content}"
    return build_payload(settings, base_url=rossum_url, rossum_authorization_token=ROSSUM_TOKEN)


def post(session: requests.Session, url: str, body: dict) -> float:
    started = time.perf_counter()
    response = session.post(url, json=body, timeout=120)
    elapsed = time.perf_counter() - started
    # Anything but a plain success (a warning: a receipt not written…) is a broken bench.
    if response.status_code != 200 or '"error"' in response.text or '"warning"' in response.text:
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:300]}")
    return elapsed


def new_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def concurrently(app: App, bodies: list[dict], clients: int) -> float:
    """Send the bodies from ``clients`` threads (instances in turn); exports per second."""
    local = threading.local()

    def one(numbered):
        n, body = numbered
        if not hasattr(local, "session"):
            local.session = new_session()
        return post(local.session, app.url(n), body)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, enumerate(bodies)))
    return len(bodies) / (time.perf_counter() - started)


def warm_up(apps: list[App], fakes: tuple[str, str]) -> None:
    """Enough concurrent calls that every worker has imported, connected and cached."""
    for app in apps:
        concurrently(app, [payload(*fakes) for _ in range(64 * len(app.urls))], 16)


def rotations(apps: list[App], rounds: int):
    """Each round in another order, so no app always runs right after the same one."""
    for round_number in range(rounds):
        shift = round_number % len(apps)
        ordered = apps[shift:] + apps[:shift]
        yield ordered if round_number % 2 == 0 else ordered[::-1]


def sequential_blocks(apps: list[App], fakes, opts: Options) -> None:
    for ordered in rotations(apps, opts.rounds):
        for app in ordered:
            bodies = [payload(*fakes) for _ in range(opts.block)]
            with new_session() as session:  # a session per block: no connection goes stale
                post(session, app.url(0), payload(*fakes))  # connected before the clock starts
                cpu = app.cpu_seconds()
                latencies = [post(session, app.url(n), body) for n, body in enumerate(bodies)]
                app.block_cpu.append((app.cpu_seconds() - cpu) / opts.block)
            app.block_latency.append(statistics.median(latencies))


def throughput_blocks(apps: list[App], fakes, clients: list[int], opts: Options) -> None:
    for count in clients:
        exports = max(30, count * opts.exports_per_client)
        for ordered in rotations(apps, opts.throughput_rounds):
            for app in ordered:
                bodies = [payload(*fakes) for _ in range(exports)]
                app.rates.setdefault(count, []).append(concurrently(app, bodies, count))


def prefill(state_url: str, rows: int) -> None:
    """Remember ``rows`` delivered exports, as the store writes them, before the service starts."""
    from app.state import open_store
    from app.state.base import DELIVERED

    # A first read creates the file with the store's own schema and indexes.
    open_store(state_url).get("bench-prefill-probe")
    path = state_url.removeprefix("sqlite:///")
    now = time.time()
    ttl = 7 * 24 * 3600
    values = {
        "state": DELIVERED,
        "owner": "bench-prefill",
        "answer": '{"messages": [], "operations": []}',
    }
    with sqlite3.connect(path) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(exports)")]
        if "key" not in columns:
            raise RuntimeError(f"{path} has no exports table to fill")

        def row(n: int):
            age = n * (ttl / 2) / rows  # spread over half the TTL: none expires during the run
            times = {"updated_at": now - age, "lease_until": now - age}
            times["expires_at"] = now - age + ttl
            return [
                f"bench-prefill-{n:08d}" if c == "key" else times.get(c, values.get(c))
                for c in columns
            ]

        db.executemany(
            f"INSERT INTO exports ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            (row(n) for n in range(rows)),
        )


def redis_without_workers() -> bool:
    """Whether exports run where the call arrives in Redis mode (no queue worker process)."""
    procfile = (PROJECT / "Procfile").read_text()
    return not any(line.startswith("worker:") for line in procfile.splitlines())


def service_env(fakes, state_url: str) -> dict:
    rossum_url = fakes[0]
    return {
        "STATE_URL": state_url,
        "ALLOWED_ROSSUM_HOSTS": f"http://{rossum_url.removeprefix('http://')}",
        "ALLOW_PRIVATE_TARGETS": "true",
        "SYNC_WAIT_S": "60",
    }


def rss_of_tree(pid: int) -> int:
    """Resident memory of a process and its children, in bytes."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            kib = next(line.split()[1] for line in status.splitlines() if line[:6] == "VmRSS:")
            total += int(kib) * 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


def peak_rss_growth(pid: int, action) -> int:
    idle = rss_of_tree(pid)
    peak, done = idle, threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_of_tree(pid))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        action()
    finally:
        done.set()
        sampler.join()
    return peak - idle


STARTED = time.monotonic()


def progress(what: str) -> None:
    print(f"[{time.monotonic() - STARTED:5.0f} s] {what}", file=sys.stderr, flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def latency_row(name: str, app: App, base: App, target: str) -> tuple[str, str, str]:
    ratios = [a / b for a, b in zip(app.block_latency, base.block_latency, strict=True)]
    return (
        name,
        f"**{statistics.median(ratios):.2f}** ({ms(statistics.median(app.block_latency))} ÷ "
        f"{ms(statistics.median(base.block_latency))}; rounds {min(ratios):.2f}–{max(ratios):.2f})",
        target,
    )


def rate_row(name: str, app: App, base: App, clients: int, target: str) -> tuple[str, str, str]:
    mine, theirs = statistics.median(app.rates[clients]), statistics.median(base.rates[clients])
    return (name, f"**{mine / theirs:.2f}** ({mine:.0f} ÷ {theirs:.0f} exports/s)", target)


def main() -> None:
    opts = options()
    directory = tempfile.mkdtemp(prefix="rest-api-export-bench-")
    processes = Processes(directory)
    rows: list[tuple[str, str, str]] = []
    notes: list[str] = []
    try:
        fakes = processes.fakes()
        floor = processes.gunicorn("bench.floor:app", {})
        floor.name = "floor"
        service = processes.gunicorn(
            "wsgi:app", service_env(fakes, f"sqlite:///{directory}/state.sqlite3")
        )
        full_state = f"sqlite:///{directory}/state-100k.sqlite3"
        prefill(full_state, REMEMBERED)
        full = processes.gunicorn("wsgi:app", service_env(fakes, full_state))
        redis_apps: list[App] = []
        if opts.redis and not shutil.which("redis-server"):
            notes.append("Redis rows skipped: no redis-server on PATH.")
        elif opts.redis and not redis_without_workers():
            notes.append(
                "Redis rows skipped: this version runs Redis-mode exports on queue workers "
                "(Procfile `worker:`); the bench measures exports run where the call arrives."
            )
        elif opts.redis:
            redis_url = processes.redis_server()
            one = processes.gunicorn("wsgi:app", service_env(fakes, redis_url))
            other = processes.gunicorn("wsgi:app", service_env(fakes, redis_url))
            redis_apps = [one, one.joined(other, "redis×2")]
        warm_up([floor, service, full, *redis_apps], fakes)
        progress("started and warmed up")
        sequential_blocks([floor, service, full, *redis_apps[:1]], fakes, opts)
        progress("sequential blocks")
        throughput_blocks([floor, service, *redis_apps], fakes, [1, 8, 32], opts)
        if redis_apps:
            throughput_blocks([service, *redis_apps], fakes, [16], opts)
        progress("throughput blocks")

        rows.append(
            latency_row(
                "overhead ratio: median export latency ÷ floor", service, floor, "≤ 1.25 (aim 1.1)"
            )
        )
        cpu, floor_cpu = statistics.median(service.block_cpu), statistics.median(floor.block_cpu)
        rows.append(
            (
                "CPU per export ÷ floor (service processes only)",
                f"**{cpu / floor_cpu:.2f}** ({ms(cpu)} ÷ {ms(floor_cpu)})",
                "",
            )
        )
        for clients, target in ((1, ""), (8, ""), (32, "≥ 0.85")):
            rows.append(
                rate_row(
                    f"throughput ÷ floor, {clients} client{'s' * (clients > 1)}",
                    service,
                    floor,
                    clients,
                    target,
                )
            )
        rows.append(
            latency_row(
                f"overhead ratio with {REMEMBERED:,} remembered exports", full, floor, "≤ 1.3"
            )
        )
        if redis_apps:
            one, two = redis_apps
            rows.append(
                latency_row("Redis ÷ SQLite: median export latency", one, service, "≤ 1.25")
            )
            for clients in (1, 8, 16, 32):
                rows.append(
                    rate_row(
                        f"Redis ÷ SQLite: throughput, {clients} client{'s' * (clients > 1)}",
                        one,
                        service,
                        clients,
                        "≥ 0.8" if clients == 16 else "",
                    )
                )
            for clients in (8, 32):
                rows.append(
                    rate_row(
                        f"Redis, two instances ÷ one: throughput, {clients} clients",
                        two,
                        one,
                        clients,
                        "",
                    )
                )

        if opts.memory:
            single = processes.gunicorn(
                "wsgi:app",
                service_env(fakes, f"sqlite:///{directory}/state-single.sqlite3"),
                workers="1",
            )
            pid = single.processes[0].pid
            with new_session() as session:
                for _ in range(5):
                    post(session, single.urls[0], payload(*fakes))
                for name, extra in (("a raw body", {}), ("multipart", {"file_key": "file"})):
                    growth = peak_rss_growth(
                        pid,
                        lambda extra=extra: post(
                            session, single.urls[0], payload(*fakes, key="big", **extra)
                        ),
                    )
                    rows.append(
                        (
                            f"peak RSS growth, one 50 MB file as {name}",
                            f"{growth / 2**20:.1f} MB",
                            "≤ 20 MB",
                        )
                    )
    finally:
        processes.stop_all()
        shutil.rmtree(directory, ignore_errors=True)

    print(
        f"\nrest-api-export benchmark — {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, gunicorn {WORKERS} workers × {THREADS} threads, "
        f"{opts.rounds} rounds of {opts.block} sequential exports per app\n"
    )
    print("| measure | result | target |\n| --- | --- | --- |")
    for name, result, target in rows:
        print(f"| {name} | {result} | {target} |")
    for note in notes:
        print(f"\n{note}")


if __name__ == "__main__":
    main()
