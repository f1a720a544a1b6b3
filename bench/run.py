"""The benchmark (``make bench``): overhead over the floor, throughput, memory per large file.

Starts everything it measures on free loopback ports — fake Rossum and target
(bench.fakes), the service and the floor (bench.floor) under the same gunicorn
settings — and prints one Markdown table. Every process is stopped at the end.
"""

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bench.fakes import ROSSUM_TOKEN
from tests.builders import build_payload
from tests.processes import free_port

PROJECT = Path(__file__).resolve().parent.parent
WORKERS, THREADS = "2", "8"
SEQUENTIAL, WARM_UP = 200, 20


def start_fakes(latency_ms: float):
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.fakes", "--latency-ms", str(latency_ms)],
        cwd=PROJECT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        stderr=subprocess.DEVNULL,
    )
    rossum_url, target_url = process.stdout.readline().split()
    return process, rossum_url, target_url


def start_gunicorn(app: str, env: dict, workers: str = WORKERS):
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "gunicorn.conf.py",
            "--access-logfile",
            "/dev/null",
            app,
        ],
        cwd=PROJECT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={
            **os.environ,
            "PORT": str(port),
            "WEB_CONCURRENCY": workers,
            "GUNICORN_THREADS": THREADS,
            **env,
        },
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.post(url, data=b"{}", timeout=1)
            return process, url
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"{app} did not start")


def service_env(rossum_url: str, state_dir: str) -> dict:
    return {
        "STATE_URL": f"sqlite:///{state_dir}/state-{free_port()}.sqlite3",
        "ALLOWED_ROSSUM_HOSTS": f"http://{rossum_url.removeprefix('http://')}",
        "ALLOW_PRIVATE_TARGETS": "true",
        "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(dir=state_dir),
        "SYNC_WAIT_S": "60",
    }


def payload(rossum_url: str, target_url: str, seq: int, key="csv", **request) -> dict:
    settings = {
        "export_reference_key": key,
        "request": {
            "url": f"{target_url}/in?seq={seq}",
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
    if response.status_code != 200 or response.text.count('"error"'):
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:300]}")
    return elapsed


def sequential(url: str, bodies: list[dict]) -> list[float]:
    with requests.Session() as session:
        return [post(session, url, body) for body in bodies]


def concurrent(url: str, bodies: list[dict], clients: int) -> tuple[list[float], float]:
    local = threading.local()

    def one(body):
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return post(local.session, url, body)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(one, bodies))
    return latencies, time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def rss_of_tree(pid: int) -> int:
    """Resident memory of a process and its children, in bytes."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += (
                int(
                    next(
                        line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")
                    )
                )
                * 1024
            )
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


def main() -> None:
    processes = []
    state_dir = tempfile.mkdtemp(prefix="rest-api-export-bench-")
    rows = []
    try:
        fakes, rossum_url, target_url = start_fakes(0)
        processes.append(fakes)
        service, service_url = start_gunicorn("wsgi:app", service_env(rossum_url, state_dir))
        floor, floor_url = start_gunicorn("bench.floor:app", {})
        processes += [service, floor]

        bodies = [payload(rossum_url, target_url, seq) for seq in range(WARM_UP + SEQUENTIAL)]
        sequential(floor_url, bodies[:WARM_UP])
        sequential(service_url, bodies[:WARM_UP])
        floor_times = sequential(floor_url, bodies[WARM_UP:])
        service_times = sequential(service_url, bodies[WARM_UP:])
        ratio = statistics.median(service_times) / statistics.median(floor_times)
        rows.append(
            (
                "overhead ratio (median of 200 sequential exports ÷ floor)",
                f"{ratio:.2f} ({statistics.median(service_times) * 1000:.1f} ms ÷ "
                f"{statistics.median(floor_times) * 1000:.1f} ms)",
                "≤ 1.25",
            )
        )

        slow, slow_rossum, slow_target = start_fakes(20)
        processes.append(slow)
        slow_service, slow_url = start_gunicorn("wsgi:app", service_env(slow_rossum, state_dir))
        processes.append(slow_service)
        sequential(slow_url, [payload(slow_rossum, slow_target, -n - 1) for n in range(10)])
        one_latencies, one_wall = concurrent(
            slow_url, [payload(slow_rossum, slow_target, n) for n in range(60)], 1
        )
        eight_latencies, eight_wall = concurrent(
            slow_url, [payload(slow_rossum, slow_target, 1000 + n) for n in range(240)], 8
        )
        one_rate, eight_rate = 60 / one_wall, 240 / eight_wall
        rows.append(
            (
                "throughput, 1 client (20 ms fakes)",
                f"{one_rate:.1f} exports/s, p50 {percentile(one_latencies, 0.5) * 1000:.0f} ms,"
                f" p99 {percentile(one_latencies, 0.99) * 1000:.0f} ms",
                "",
            )
        )
        rows.append(
            (
                "throughput, 8 clients (20 ms fakes)",
                f"{eight_rate:.1f} exports/s ({eight_rate / one_rate:.1f}×), p50 "
                f"{percentile(eight_latencies, 0.5) * 1000:.0f} ms, p99 "
                f"{percentile(eight_latencies, 0.99) * 1000:.0f} ms",
                "≥ 5× one client",
            )
        )

        single, single_url = start_gunicorn(
            "wsgi:app", service_env(rossum_url, state_dir), workers="1"
        )
        processes.append(single)
        sequential(single_url, [payload(rossum_url, target_url, -n - 100) for n in range(5)])
        with requests.Session() as session:
            raw = peak_rss_growth(
                single.pid,
                lambda: post(session, single_url, payload(rossum_url, target_url, 5000, key="big")),
            )
            multipart = peak_rss_growth(
                single.pid,
                lambda: post(
                    session,
                    single_url,
                    payload(rossum_url, target_url, 5001, key="big", file_key="file"),
                ),
            )
        rows.append(
            ("peak RSS growth, one 50 MB file as a raw body", f"{raw / 2**20:.1f} MB", "≤ 20 MB")
        )
        rows.append(
            (
                "peak RSS growth, one 50 MB file as multipart",
                f"{multipart / 2**20:.1f} MB",
                "≤ 20 MB",
            )
        )
    finally:
        for process in processes:
            if process.stdin:
                process.stdin.close()
            process.terminate()
        for process in processes:
            process.wait(timeout=30)

    print(
        f"\nrest-api-export benchmark — {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, gunicorn {WORKERS} workers × {THREADS} threads\n"
    )
    print("| measure | result | target |\n| --- | --- | --- |")
    for name, result, target in rows:
        print(f"| {name} | {result} | {target} |")


if __name__ == "__main__":
    main()
