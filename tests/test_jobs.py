"""Asynchronous answers (SPEC §9): 202 + Location, polls, and several instances on Redis."""

import secrets
import time

import pytest
import requests

from app.state import DELIVERED, open_store
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


def test_the_redis_store_claims_and_keeps_jobs(redis_url):
    store = open_store(redis_url)

    assert store.claim("k", "one", lease_s=60, ttl_s=60).acquired
    assert not store.claim("k", "two", lease_s=60, ttl_s=60).acquired
    store.release("k", "two")  # not the owner
    store.finish("k", "one", DELIVERED, {"messages": []}, ttl_s=60)
    assert store.get("k").state == DELIVERED
    store.create_job("j", lease_s=60, ttl_s=60)
    store.mark_job_late("j")
    store.finish_job("j", {"messages": [{"type": "info", "content": "ok"}]}, ttl_s=60)
    job = store.get_job("j")
    assert job.done and job.answered_late and job.answer["messages"][0]["content"] == "ok"
    store.put_job_input("j", b"input", ttl_s=60)
    assert store.take_job_input("j") == b"input" and store.take_job_input("j") is None
    assert store.get_job("unknown") is None


@pytest.fixture
def instances(processes, redis_url, fake_rossum):
    """Two instances of the service and one RQ worker sharing one Redis."""
    env = {
        "STATE_URL": redis_url,
        "ALLOWED_ROSSUM_HOSTS": f"http://{fake_rossum.url.removeprefix('http://')}",
        "ALLOW_PRIVATE_TARGETS": "true",
        "SYNC_WAIT_S": "1",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "4",
    }
    processes.rq_worker(redis_url, **env)
    return processes.gunicorn(**env), processes.gunicorn(**env)


def test_a_job_started_on_one_instance_is_answered_by_another(instances, fake_rossum, slow_target):
    first, second = instances
    payload = build_payload(simple_settings(f"{slow_target.url}/in"), base_url=fake_rossum.url)

    response = requests.post(first, json=payload, timeout=30)

    assert response.status_code == 202
    job_path = response.headers["Location"].split("/jobs/", 1)[1]
    answers = poll(f"{second}/jobs/{job_path}")
    assert answers[-1].status_code == 201
    assert answers[-1].json()["messages"][0]["content"].endswith("answered 201 CREATED")
    assert len(slow_target.requests) == 1


def test_the_same_payload_on_two_instances_at_once_is_sent_once(instances, fake_rossum, target):
    target.reply_with(200, b"ok", delay_s=0.5)
    payload = build_payload(simple_settings(f"{target.url}/in"), base_url=fake_rossum.url)
    responses = post_at_once(list(instances), payload)

    assert [r.status_code for r in responses] == [200, 200]
    assert len(target.requests) == 1
    assert sorted(len(r.json()["messages"]) for r in responses) == [1, 2]
