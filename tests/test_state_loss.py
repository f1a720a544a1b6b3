"""A state store that cannot be used, or forgot (SPEC §9 "Crashes and a lost memory").

The service runs under gunicorn; its store is deleted, frozen (a read-only mount),
filled (a full tmpfs), stopped or flushed under it, as an on-call engineer would see.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
import requests

from app.state import DELIVERED, open_store
from tests.builders import build_payload, simple_settings
from tests.processes import PROJECT, free_port

HEARTBEAT_S = 1.0


def start(processes, fake_rossum, state_url: str, **env) -> str:
    return processes.gunicorn(
        STATE_URL=state_url,
        ALLOWED_ROSSUM_HOSTS=f"http://{fake_rossum.url.removeprefix('http://')}",
        ALLOW_PRIVATE_TARGETS="true",
        WEB_CONCURRENCY=1,
        GUNICORN_THREADS=4,
        HEARTBEAT_S=HEARTBEAT_S,
        **env,
    )


def export(url: str, fake_rossum, target, path: str = "/in") -> requests.Response:
    payload = build_payload(simple_settings(f"{target.url}{path}"), base_url=fake_rossum.url)
    return requests.post(url, json={**payload, "request_id": str(uuid.uuid4())}, timeout=30)


def log_of(processes, url: str) -> Path:
    return processes.tmp_path / f"gunicorn-{url.rsplit(':', 1)[1]}.log"


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def state_lost_total(url: str) -> float:
    for line in requests.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith("rest_api_export_state_lost_total "):
            return float(line.split()[1])
    return 0.0


def assert_503_naming(response: requests.Response, store: str) -> None:
    assert response.status_code == 503
    (message,) = response.json()["messages"]
    assert message["type"] == "error"
    assert f"The state store ({store}) cannot be used: " in message["content"]
    assert "Nothing was sent" in message["content"]


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 1 MiB tmpfs of the test's own; skipped where the machine does not allow mounts."""
    mount_point = tmp_path / "mnt"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()}): needs root")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_deleted_state_file_is_noticed_logged_and_recreated(processes, fake_rossum, target):
    path = processes.tmp_path / "state.sqlite3"
    url = start(processes, fake_rossum, f"sqlite:///{path}")
    assert export(url, fake_rossum, target, "/a").status_code == 200

    for name in ("state.sqlite3", "state.sqlite3-wal", "state.sqlite3-shm"):
        (processes.tmp_path / name).unlink(missing_ok=True)

    # The heartbeat notices it within a beat or two, without any traffic.
    wait_for(lambda: b"was deleted" in log_of(processes, url).read_bytes(), 20, "the ERROR")
    assert b"ERROR" in log_of(processes, url).read_bytes()
    assert state_lost_total(url) == 1.0
    assert export(url, fake_rossum, target, "/b").status_code == 200
    assert path.exists() and len(target.requests) == 2


def test_a_read_only_state_file_is_503_until_it_is_writable(
    processes, fake_rossum, target, small_tmpfs
):
    url = start(processes, fake_rossum, f"sqlite:///{small_tmpfs}/state.sqlite3")
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)

    refused = export(url, fake_rossum, target)
    subprocess.run(["mount", "-o", "remount,rw", str(small_tmpfs)], check=True)
    recovered = export(url, fake_rossum, target)

    assert_503_naming(refused, f"SQLite file {small_tmpfs}/state.sqlite3")
    assert "Read-only file system" in refused.json()["messages"][0]["content"]
    assert recovered.status_code == 200 and recovered.json()["messages"][0]["type"] == "info"
    assert len(target.requests) == 1


def test_a_full_disk_is_503_until_there_is_room(processes, fake_rossum, target, small_tmpfs):
    url = start(processes, fake_rossum, f"sqlite:///{small_tmpfs}/state.sqlite3")
    filler = small_tmpfs / "filler"
    with open(filler, "wb") as fill, pytest.raises(OSError, match="No space left"):
        while True:
            fill.write(b"\0" * 65536)
            fill.flush()

    refused = export(url, fake_rossum, target)
    filler.unlink()
    recovered = export(url, fake_rossum, target)

    assert_503_naming(refused, f"SQLite file {small_tmpfs}/state.sqlite3")
    assert recovered.status_code == 200 and recovered.json()["messages"][0]["type"] == "info"
    assert len(target.requests) == 1


def test_redis_down_is_503_and_a_restart_with_persistence_forgets_nothing(
    processes, fake_rossum, target
):
    port = free_port()
    redis_url = processes.redis_server(port=port)
    url = start(processes, fake_rossum, redis_url)
    payload = build_payload(simple_settings(f"{target.url}/in"), base_url=fake_rossum.url)
    assert requests.post(url, json=payload, timeout=30).status_code == 200
    server = processes.running[0]
    server.send_signal(signal.SIGTERM)  # a clean stop: the AOF is flushed
    server.wait(timeout=20)

    refused = requests.post(url, json=payload, timeout=30)
    processes.redis_server(port=port)  # the same data directory: the AOF is replayed
    repeat = requests.post(url, json={**payload, "request_id": "again"}, timeout=30)

    assert_503_naming(refused, f"Redis at 127.0.0.1:{port}")
    assert repeat.json()["messages"][-1]["content"].startswith("Already exported at")
    assert len(target.requests) == 1


def test_redis_without_persistence_is_refused_at_start_unless_allowed(processes, fake_rossum):
    volatile = processes.redis_server(persistence=False)
    command = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
    env = processes.env(STATE_URL=volatile, PORT=free_port())

    refused = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, timeout=60)
    allowed = start(processes, fake_rossum, volatile, STATE_VOLATILE_OK="true")

    assert refused.returncode != 0
    stderr = refused.stderr.decode()
    assert "rest-api-export refuses to start: STATE_URL points at Redis at 127.0.0.1" in stderr
    assert "keeps no persistence" in stderr and "Traceback" not in stderr
    assert requests.get(f"{allowed}/healthz", timeout=10).status_code == 200


def test_a_flushed_redis_is_logged_and_counted(processes, redis_url, fake_rossum):
    url = start(processes, fake_rossum, redis_url)
    time.sleep(2 * HEARTBEAT_S)  # a beat has seen the marker (no traffic needed)

    redis.Redis.from_url(redis_url).flushall()

    wait_for(lambda: b"lost its data" in log_of(processes, url).read_bytes(), 20, "the ERROR")
    assert state_lost_total(url) == 1.0


def test_sigterm_lets_a_background_export_finish(processes, fake_rossum, target):
    state = processes.tmp_path / "state.sqlite3"
    url = start(processes, fake_rossum, f"sqlite:///{state}", SYNC_WAIT_S=1)
    target.reply_with(201, b"slow", delay_s=4)
    accepted = export(url, fake_rossum, target)
    assert accepted.status_code == 202
    master = processes.masters[url]

    os.kill(master.pid, signal.SIGTERM)
    master.wait(timeout=60)

    job = open_store(f"sqlite:///{state}").get_job(accepted.headers["Location"].rsplit("/", 1)[1])
    assert job.done and job.answer["messages"][0]["content"].endswith("answered 201 CREATED")
    assert len(target.requests) == 1
    store = open_store(f"sqlite:///{state}")
    assert store.get(next(iter(keys_of(state)))).state == DELIVERED


def keys_of(state: Path) -> list[str]:
    import sqlite3

    return [key for (key,) in sqlite3.connect(state).execute("SELECT key FROM exports")]
