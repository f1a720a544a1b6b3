"""Asynchronous answers (SPEC §9): 202 + Location, polls, and several instances on Redis."""

import secrets
import time

import pytest
import requests

from tests.builders import build_payload, post_at_once, simple_settings


def poll(url: str, seconds: float = 60) -> list[requests.Response]:
    """GET a job until it is no longer 202 (bounded); a failed GET is tried again."""
    answers = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            answers.append(requests.get(url, timeout=10))
        except requests.RequestException:
            pass
        else:
            if answers[-1].status_code != 202:
                break
        time.sleep(0.2)
    return answers


@pytest.fixture
def slow_target(target):
    target.reply_with(
        201, b'{"id": "ERP-1"}', {"Content-Type": "application/json"}, delay_s=3, times=2
    )
    return target


@pytest.fixture
def async_app(make_app):
    app = make_app(SYNC_WAIT_S=1.0)
    from tests.servers import ServerThread

    server = ServerThread(app).start()
    yield server.url
    server.stop()


def test_a_slow_export_is_answered_202_and_its_job_polled(async_app, payload_for, slow_target):
    response = requests.post(
        async_app, json=payload_for(simple_settings(f"{slow_target.url}/in")), timeout=30
    )

    assert response.status_code == 202
    assert response.json() == {"messages": [], "operations": []}
    location = response.headers["Location"]
    assert location.startswith(f"{async_app}/jobs/")
    answers = poll(location)
    assert answers[0].status_code == 202
    assert answers[-1].status_code == 201
    assert answers[-1].json()["messages"][0]["content"].endswith("answered 201 CREATED")
    assert set(answers[-1].json()) == {"messages", "operations"}
    assert len(slow_target.requests) == 1


def test_files_are_fetched_before_the_202(async_app, payload_for, fake_rossum, slow_target):
    response = requests.post(
        async_app, json=payload_for(simple_settings(f"{slow_target.url}/in")), timeout=30
    )
    calls_when_answered = [c.path for c in fake_rossum.calls]

    assert response.status_code == 202
    assert any(path.endswith("/content") for path in calls_when_answered)


def test_unknown_jobs_are_404(client):
    response = client.get(f"/jobs/{secrets.token_urlsafe(24)}")

    assert response.status_code == 404
    assert response.json["messages"][0]["type"] == "error"


def test_public_url_and_forwarded_headers_make_the_location(make_app, payload_for, slow_target):
    settings = simple_settings(f"{slow_target.url}/in")
    public = make_app(SYNC_WAIT_S=0.2, PUBLIC_URL="https://export.example.com/").test_client()
    proxied = make_app(SYNC_WAIT_S=0.2, TRUST_PROXY=True).test_client()

    first = public.post("/", json=payload_for(settings))
    second = proxied.post(
        "/",
        json=payload_for({**settings, "deduplicate": False}),
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hooks.example.org"},
    )

    assert first.headers["Location"].startswith("https://export.example.com/jobs/")
    assert second.headers["Location"].startswith("https://hooks.example.org/jobs/")


def test_a_rossum_401_after_the_202_asks_for_a_longer_token_lifetime(
    async_app, payload_for, fake_rossum, slow_target
):
    fake_rossum.fail_next("POST", "/api/v1/documents", 401, body={"detail": "Token expired."})
    settings = {
        **simple_settings(f"{slow_target.url}/in"),
        "response_payload_reference_key": "reply",
    }

    response = requests.post(async_app, json=payload_for(settings), timeout=30)
    final = poll(response.headers["Location"])[-1].json()

    assert response.status_code == 202
    assert "answered 401: Token expired." in final["messages"][1]["content"]
    assert "raise the hook's token_lifetime_s" in final["messages"][1]["content"]


SYNC_WAIT_S = 2.0
SLOW_TARGET_S = SYNC_WAIT_S + 4  # a margin of seconds over the wait, for a busy machine


@pytest.fixture
def instances(processes, redis_url, fake_rossum):
    """Two instances of the service sharing one Redis (with persistence)."""
    env = {
        "STATE_URL": redis_url,
        "ALLOWED_ROSSUM_HOSTS": f"http://{fake_rossum.url.removeprefix('http://')}",
        "ALLOW_PRIVATE_TARGETS": "true",
        "SYNC_WAIT_S": SYNC_WAIT_S,
        "TARGET_READ_TIMEOUT_S": SLOW_TARGET_S + 10,
        "HEARTBEAT_S": 1,
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "4",
    }
    return processes.gunicorn(**env), processes.gunicorn(**env)


def redis_payload(fake_rossum, target, path="/in"):
    return build_payload(simple_settings(f"{target.url}{path}"), base_url=fake_rossum.url)


def test_a_job_started_on_one_instance_is_answered_by_another(instances, fake_rossum, target):
    first, second = instances
    target.reply_with(201, b'{"id": "ERP-1"}', delay_s=SLOW_TARGET_S)

    response = requests.post(first, json=redis_payload(fake_rossum, target), timeout=30)

    assert response.status_code == 202
    job_path = response.headers["Location"].split("/jobs/", 1)[1]
    answers = poll(f"{second}/jobs/{job_path}", seconds=SLOW_TARGET_S + 20)
    assert answers[0].status_code == 202
    assert answers[-1].status_code == 201
    assert answers[-1].json()["messages"][0]["content"].endswith("answered 201 CREATED")
    assert len(target.requests) == 1


def test_the_same_payload_on_two_instances_at_once_is_sent_once(instances, fake_rossum, target):
    target.reply_with(200, b"ok", delay_s=0.5)
    responses = post_at_once(list(instances), redis_payload(fake_rossum, target))

    assert [r.status_code for r in responses] == [200, 200]
    assert len(target.requests) == 1
    assert sorted(len(r.json()["messages"]) for r in responses) == [1, 2]


def test_a_repeat_on_another_instance_after_success_is_not_sent(instances, fake_rossum, target):
    first, second = instances
    payload = redis_payload(fake_rossum, target)
    done = requests.post(first, json=payload, timeout=30)

    repeat = requests.post(second, json={**payload, "request_id": "another"}, timeout=30)

    assert done.status_code == repeat.status_code == 200
    assert len(target.requests) == 1
    assert repeat.json()["messages"][-1]["content"].startswith("Already exported at")


def test_a_slow_export_on_one_instance_does_not_hold_up_another(instances, fake_rossum, target):
    first, second = instances
    target.reply_with(201, b"slow", delay_s=SLOW_TARGET_S)
    target.reply_with(200, b"fast")
    slow = redis_payload(fake_rossum, target, "/slow")
    fast = redis_payload(fake_rossum, target, "/fast")

    slow_answer = requests.post(first, json=slow, timeout=30)
    started = time.monotonic()
    fast_answer = requests.post(second, json=fast, timeout=30)

    assert slow_answer.status_code == 202
    assert fast_answer.status_code == 200
    assert time.monotonic() - started < SLOW_TARGET_S  # not queued behind the slow one
    assert poll(slow_answer.headers["Location"], seconds=SLOW_TARGET_S + 20)[-1].status_code == 201


def test_a_bug_in_a_late_export_is_logged_with_its_secrets_masked(
    async_app, payload_for, target, monkeypatch, caplog
):
    secret = "k3y-that-must-not-leak"

    def crashing_run(prepared):
        time.sleep(3)  # well past SYNC_WAIT_S (1 s): the call is answered 202 first
        raise RuntimeError(f"a bug while holding {prepared.payload.secrets['api_key']}")

    monkeypatch.setattr("app.jobs.run_prepared", crashing_run)
    payload = payload_for(simple_settings(f"{target.url}/in"), secrets={"api_key": secret})

    response = requests.post(async_app, json=payload, timeout=30)
    final = poll(response.headers["Location"])[-1]

    assert response.status_code == 202
    assert final.status_code == 201
    assert final.json()["messages"][0]["content"].startswith("Internal error")
    crash = [r for r in caplog.records if "failed unexpectedly" in r.getMessage()]
    assert crash and crash[0].exc_text and "a bug while holding ********" in crash[0].exc_text
    assert secret not in caplog.text
    assert all(secret not in (r.exc_text or "") for r in caplog.records)
