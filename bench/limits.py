"""Limits benchmark (SPEC §11): slow targets, slow clients, templating cost.

``python -m bench.limits [--worker-class gevent|gthread ...]`` starts the service under
gunicorn as deployed (2 workers) next to a fake Rossum, a normal target and a target
that drips its answer one byte a second, then prints:

- the latency of a normal export while idle, and while 20 exports are stuck dripping;
- the latency of a normal hook call while 40 connections send their headers slowly;
- the time to render ``$FOR_EACH_SCHEMA_ID$`` over 1k / 10k / 100k datapoints
  (in this process, through ``/preview``: parsing, checks and templating).
"""

import argparse
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import suppress
from pathlib import Path

import requests
from werkzeug.wrappers import Request

from tests.builders import ANNOTATION_ID, build_payload, simple_settings
from tests.processes import free_port, wait_until_up
from tests.servers import FakeRossum, MisbehavingTarget, ServerThread, Target

PROJECT = Path(__file__).resolve().parent.parent
EXPORT_KEY = "export_annotation_to_csv"
STUCK_EXPORTS = 20
SLOW_CLIENTS = 40
SAMPLES = 10
NORMAL_TIMEOUT_S = 10  # a normal export slower than this is reported as this


class QuietTarget(Target):
    """Answers 200 and records nothing."""

    def __call__(self, environ, start_response):
        Request(environ).get_data()  # bounded by Content-Length
        start_response("200 OK", [("Content-Length", "2")])
        return [b"{}"]


def start_service(worker_class: str, rossum_url: str, state_dir: str):
    port = free_port()
    host = rossum_url.removeprefix("http://")
    env = {
        **os.environ,
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "GUNICORN_WORKER_CLASS": worker_class,
        "STATE_URL": f"sqlite:///{state_dir}/state-{port}.sqlite3",
        "PROMETHEUS_MULTIPROC_DIR": f"{state_dir}/metrics-{port}",
        "ALLOWED_ROSSUM_HOSTS": f"http://{host}",
        "ALLOW_PRIVATE_TARGETS": "true",
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"]
        + ["--access-logfile", "/dev/null", "wsgi:app"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url, process)
    return process, url


def hook_call(url: str, rossum_url: str, target_url: str, timeout: float = 60) -> float:
    """Seconds for one export hook call (an error answer counts as slow as it was)."""
    payload = build_payload(simple_settings(target_url), base_url=rossum_url)
    started = time.monotonic()
    with suppress(requests.RequestException):  # a stuck export: its time is what counts
        requests.post(url, json=payload, timeout=timeout)
    return time.monotonic() - started


def latencies(url: str, rossum_url: str, target_url: str, label: str) -> list[float]:
    return [
        hook_call(url, rossum_url, f"{target_url}/{label}/{n}", timeout=NORMAL_TIMEOUT_S)
        for n in range(SAMPLES)
    ]


def summary(seconds: list[float]) -> str:
    return f"median {statistics.median(seconds) * 1000:7.1f} ms   max {max(seconds) * 1000:7.1f} ms"


def slow_clients(url: str, count: int, stop: threading.Event) -> threading.Thread:
    """``count`` connections that send a request's headers one byte a second."""
    port = int(url.rsplit(":", 1)[1])

    def drip():
        sockets = []
        for _ in range(count):
            try:
                sockets.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError:
                break
        header = b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000
        for byte in header:
            if stop.wait(1.0):
                break
            for sock in sockets:
                with suppress(OSError):  # the service gave up on it: fine
                    sock.send(bytes([byte]))
        for sock in sockets:
            sock.close()

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    return thread


def measure_service(worker_class: str) -> None:
    rossum = FakeRossum(build_payload()["rossum_authorization_token"])
    rossum_server = ServerThread(rossum).start()
    rossum.url = rossum_server.url
    rossum.add_export_document(ANNOTATION_ID, EXPORT_KEY, b"id,total\n1,2\n")
    target_server = ServerThread(QuietTarget()).start()
    dripping = MisbehavingTarget("drip_before").start()
    with tempfile.TemporaryDirectory() as state_dir:
        process, url = start_service(worker_class, rossum.url, state_dir)
        try:
            print(f"\n{worker_class} worker (2 workers):")
            for n in range(3):  # both workers' first exports
                hook_call(url, rossum.url, f"{target_server.url}/warm-up/{n}")
            idle = latencies(url, rossum.url, target_server.url, "idle")
            print(f"  normal export, idle:                    {summary(idle)}")
            stuck_seconds = []
            stuck = [
                threading.Thread(
                    target=lambda n=n: stuck_seconds.append(
                        hook_call(url, rossum.url, f"{dripping.url}/stuck/{n}")
                    )
                )
                for n in range(STUCK_EXPORTS)
            ]
            for thread in stuck:
                thread.start()
            time.sleep(2)  # every stuck export has reached the dripping target
            busy = latencies(url, rossum.url, target_server.url, "beside-stuck")
            print(
                f"  normal export, {STUCK_EXPORTS} exports dripping:      {summary(busy)}"
                f"   (+{(statistics.median(busy) - statistics.median(idle)) * 1000:.0f} ms)"
            )
            dripping.stop()  # the stuck exports end (connection closed)
            for thread in stuck:
                thread.join(timeout=60)
            print(
                f"  (the {STUCK_EXPORTS} stuck hook calls were answered after "
                f"{min(stuck_seconds):.1f}–{max(stuck_seconds):.1f} s; "
                f"the dripping target served {dripping.requests} requests)"
            )
            stop = threading.Event()
            clients = slow_clients(url, SLOW_CLIENTS, stop)
            time.sleep(2)
            slow = latencies(url, rossum.url, target_server.url, "beside-slow-clients")
            print(f"  normal export, {SLOW_CLIENTS} slow clients:         {summary(slow)}")
            stop.set()
            clients.join(timeout=10)
        finally:
            process.terminate()
            process.wait(timeout=60)
            dripping.stop()
            target_server.stop()
            rossum_server.stop()


def line_items(count: int) -> list:
    """A line_items multivalue with ``count`` rows of two datapoints."""
    rows = [
        {
            "category": "tuple",
            "schema_id": "line_item",
            "id": 10_000_000 + n,
            "children": [
                {
                    "category": "datapoint",
                    "schema_id": "item_description",
                    "id": 20_000_000 + n,
                    "content": {"value": f"item {n}"},
                },
                {
                    "category": "datapoint",
                    "schema_id": "item_amount",
                    "id": 30_000_000 + n,
                    "content": {"value": f"{n}.50"},
                },
            ],
        }
        for n in range(count)
    ]
    return [
        {
            "category": "section",
            "schema_id": "line_items_section",
            "id": 1,
            "children": [
                {"category": "multivalue", "schema_id": "line_items", "id": 2, "children": rows}
            ],
        }
    ]


def measure_templating() -> None:
    from app import create_app

    app = create_app(
        {
            "STATE_URL": "sqlite:///:memory:",
            "ALLOWED_ROSSUM_HOSTS": "*.rossum.app",
            "MAX_PAYLOAD_BYTES": 64 * 1024 * 1024,  # 100k datapoints are about 13 MB of JSON
        }
    )
    client = app.test_client()
    content = {
        "$FOR_EACH_SCHEMA_ID$": {
            "schema_id": "line_item",
            "mapping": {
                "description": "@{item_description}",
                "amount": {
                    "$DATAPOINT_VALUE$": {"schema_id": "item_amount", "value_type": "float"}
                },
                "document": "@{document_id}",
                "row": "@{schema_loop.index}",
            },
        }
    }
    settings = simple_settings("https://erp.example.com/invoices", content=content)
    settings["request"]["headers"] = {"Content-Type": "application/json"}
    print("\ntemplating, $FOR_EACH_SCHEMA_ID$ over line items (POST /preview, in-process):")
    for datapoints in (1_000, 10_000, 100_000):
        payload = build_payload(settings)
        payload["annotation"]["content"] += line_items(datapoints // 2)
        body = json.dumps(payload)
        started = time.perf_counter()
        response = client.post("/preview", data=body, content_type="application/json")
        seconds = time.perf_counter() - started
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        print(f"  {datapoints:>7} datapoints ({datapoints // 2:>6} rows): {seconds:6.2f} s")


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the fakes' request lines
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker-class", action="append", choices=["gevent", "gthread"])
    parser.add_argument("--skip-service", action="store_true")
    args = parser.parse_args()
    if not args.skip_service:
        for worker_class in args.worker_class or ["gevent"]:
            measure_service(worker_class)
    measure_templating()


if __name__ == "__main__":
    main()
