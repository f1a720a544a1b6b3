"""The service as deployed: gunicorn with several workers, metrics summed across them."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.builders import build_payload, simple_settings

PROJECT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def gunicorn(tmp_path, fake_rossum):
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "STATE_URL": f"sqlite:///{tmp_path}/state.sqlite3",
        "ALLOWED_ROSSUM_HOSTS": f"http://{fake_rossum.url.removeprefix('http://')}",
        "ALLOW_PRIVATE_TARGETS": "true",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"{url}/healthz", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.2)
    else:
        server.kill()
        pytest.fail(f"gunicorn did not start: {server.stderr.read().decode()[-2000:]}")
    yield url
    server.terminate()
    server.wait(timeout=30)


def exports_counted(url: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=10).text
    return float(
        re.search(
            r'^rest_api_export_exports_total\{outcome="success"\} (\S+)$', text, re.MULTILINE
        )[1]
    )


def test_metrics_are_summed_over_every_worker(gunicorn, fake_rossum, target):
    for n in range(6):
        payload = build_payload(simple_settings(f"{target.url}/in/{n}"), base_url=fake_rossum.url)
        answer = requests.post(gunicorn, json=payload, timeout=30).json()
        assert answer["messages"][0]["type"] == "info", answer

    scrapes = [exports_counted(gunicorn) for _ in range(6)]

    assert scrapes == [6.0] * 6
    assert len(target.requests) == 6
