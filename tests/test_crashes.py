"""Exports survive a killed worker (SPEC §9 "Crashes and a lost memory").

The service runs under gunicorn with one worker; the test kills that worker with
SIGKILL at each stage of an export, then re-delivers the same payload as Rossum does
(a new request_id each time) until past the claim's lease, and counts what reached
the target: exactly one request wherever the export had gone out, and exactly one,
eventually, where it had not.
"""

import threading
import time
import uuid
from contextlib import suppress

import pytest
import requests

from tests.builders import build_payload, simple_settings
from tests.processes import free_port, wait_until_up
from tests.servers import ServerThread, Target

HEARTBEAT_S = 1.0
CLAIM_LEASE_S = 4.0  # the shortest the service allows: three heartbeats (rounded up)
SYNC_WAIT_S = 2.0
SLOW_S = SYNC_WAIT_S + 6  # a slow target, several seconds past the sync wait
HELD_S = 30.0  # a fake Rossum call held long past the kill
REDELIVER_FOR_S = CLAIM_LEASE_S + 25  # past the lease, with a margin for a busy machine


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state.sqlite3"
    return request.getfixturevalue("redis_url")


@pytest.fixture
def service(processes, fake_rossum, store_url):
    """One gunicorn instance with one worker, short heartbeats and leases."""
    url = processes.gunicorn(
        STATE_URL=store_url,
        ALLOWED_ROSSUM_HOSTS=f"http://{fake_rossum.url.removeprefix('http://')}",
        ALLOW_PRIVATE_TARGETS="true",
        WEB_CONCURRENCY=1,
        GUNICORN_THREADS=4,
        HEARTBEAT_S=HEARTBEAT_S,
        CLAIM_LEASE_S=CLAIM_LEASE_S,
        SYNC_WAIT_S=SYNC_WAIT_S,
        DEDUP_WAIT_S=1,
        ROSSUM_TIMEOUT_S=HELD_S + 10,
        TARGET_READ_TIMEOUT_S=SLOW_S + 10,
        RETRY_CONNECT_TIMEOUT_S=1,
        RETRY_BACKOFF_S=0.2,
        RETRY_BUDGET_S=120,
    )
    return url


def post_in_background(url: str, payload: dict) -> threading.Thread:
    """A delivery whose answer the test does not wait for (its worker gets killed)."""

    def post():
        with suppress(requests.RequestException):  # the worker answering it gets killed
            requests.post(url, json=payload, timeout=HELD_S + 30)

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    return thread


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def kill_the_worker(processes, url: str) -> None:
    processes.kill_worker(url)
    wait_until_up(url, processes.masters[url])  # its master starts a new one


def redeliver_until(url: str, payload: dict, done, seconds: float = REDELIVER_FOR_S) -> list[dict]:
    """Re-deliver as Rossum does (a new request_id) until ``done(answer)`` or the deadline."""
    answers = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            response = requests.post(
                url, json={**payload, "request_id": str(uuid.uuid4())}, timeout=30
            )
        except requests.RequestException:
            time.sleep(0.5)
            continue
        if response.status_code == 202:
            response = poll_job(response.headers["Location"])
        answers.append(response.json())
        if done(answers[-1]):
            return answers
        time.sleep(0.5)
    raise AssertionError(f"no delivery ended as expected; answers: {answers}")


def poll_job(location: str, seconds: float = 60) -> requests.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            response = requests.get(location, timeout=10)
            if response.status_code != 202:
                return response
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{location} still running after {seconds} s")


def text_of(answer: dict) -> str:
    return " | ".join(message["content"] for message in answer["messages"])


def sent(answer: dict) -> bool:
    return "answered 200" in text_of(answer) and "Already exported" not in text_of(answer)


def already_exported(answer: dict) -> bool:
    return "Already exported at" in text_of(answer)


def test_killed_while_fetching_the_file_the_next_delivery_sends_it(
    processes, service, fake_rossum, target
):
    payload = build_payload(simple_settings(f"{target.url}/in"), base_url=fake_rossum.url)
    fake_rossum.delay_next("GET", "/api/v1/document_relations", HELD_S)
    post_in_background(service, payload)
    wait_for(lambda: fake_rossum.calls_to("/api/v1/document_relations"), 30, "the file fetch")

    kill_the_worker(processes, service)
    answers = redeliver_until(service, payload, sent)

    # The dead delivery had claimed nothing (a claim is taken as the request goes out), so
    # the very next delivery sends it: no waiting for a lease to end.
    assert sent(answers[0]), answers
    assert len(target.requests) == 1
    assert already_exported(redeliver_until(service, payload, lambda answer: True)[-1])
    assert len(target.requests) == 1


def test_killed_while_connecting_in_retry_mode_it_is_sent_once_the_target_is_up(
    processes, service, fake_rossum
):
    port = free_port()  # nothing listens there yet: every attempt is refused
    settings = {**simple_settings(f"http://127.0.0.1:{port}/in"), "mode": "retry"}
    payload = build_payload(settings, base_url=fake_rossum.url)
    log = processes.tmp_path / f"gunicorn-{service.rsplit(':', 1)[1]}.log"
    post_in_background(service, payload)
    wait_for(lambda: b"retrying in" in log.read_bytes(), 30, "a refused attempt")

    kill_the_worker(processes, service)
    target = Target()
    server = ServerThread(target, port=port).start()
    try:
        answers = redeliver_until(service, payload, sent)
        assert sent(answers[0]), answers  # nothing had gone out: nothing to wait for
        assert len(target.requests) == 1
        assert already_exported(redeliver_until(service, payload, lambda answer: True)[-1])
    finally:
        server.stop()

    assert len(target.requests) == 1
    assert not any("may already hold it" in text_of(answer) for answer in answers)


def test_killed_while_waiting_at_a_slow_target_it_is_not_sent_again(
    processes, service, fake_rossum, target
):
    target.reply_with(200, b"slow", delay_s=SLOW_S)
    payload = build_payload(simple_settings(f"{target.url}/in"), base_url=fake_rossum.url)
    accepted = requests.post(service, json=payload, timeout=30)
    assert accepted.status_code == 202 and len(target.requests) == 1

    killed_at = time.monotonic()
    kill_the_worker(processes, service)
    assert poll_job(accepted.headers["Location"], seconds=30).status_code == 404
    assert time.monotonic() - killed_at < 30  # a dead owner's job: 404 within 30 s
    answers = redeliver_until(service, payload, lambda a: "may already hold it" in text_of(a))

    assert len(target.requests) == 1
    assert all(answer["messages"][0]["type"] == "error" for answer in answers)


def test_killed_while_storing_the_reply_a_repeat_is_already_exported(
    processes, service, fake_rossum, target
):
    target.reply_with(201, b'{"id": "ERP-1"}', {"Content-Type": "application/json"})
    settings = {**simple_settings(f"{target.url}/in"), "response_payload_reference_key": "reply"}
    payload = build_payload(settings, base_url=fake_rossum.url)
    fake_rossum.delay_next("POST", "/api/v1/documents", HELD_S)
    post_in_background(service, payload)
    wait_for(
        lambda: any(c.method == "POST" for c in fake_rossum.calls_to("/api/v1/documents")),
        30,
        "the reply being stored",
    )

    kill_the_worker(processes, service)
    answer = redeliver_until(service, payload, lambda answer: True)[-1]

    assert already_exported(answer)
    assert len(target.requests) == 1
