"""Replies that would exhaust the service (SPEC §11): huge, endless, dripping.

The service runs under gunicorn (one worker) as deployed; the worker's memory is read
with psutil before and after, and every answer must come within the configured
deadline plus a margin.
"""

import time

import psutil
import pytest
import requests

from tests.builders import SECRETS, build_payload, simple_settings
from tests.servers import MisbehavingTarget
from tests.test_oauth import seed_client_credentials

DEADLINE_S = 2.0
MARGIN_S = 8.0  # a loaded 2-core machine
RSS_GROWTH_LIMIT = 50 * 1024 * 1024


@pytest.fixture
def service(processes, tmp_path, fake_rossum):
    """The service under gunicorn, and a function that reads its worker's RSS."""
    url = processes.gunicorn(
        WEB_CONCURRENCY=1,
        STATE_URL=f"sqlite:///{tmp_path}/state.sqlite3",
        ALLOWED_ROSSUM_HOSTS=f"http://{fake_rossum.url.removeprefix('http://')}",
        ALLOW_PRIVATE_TARGETS="true",
        TARGET_READ_TIMEOUT_S=DEADLINE_S,
    )
    master = psutil.Process(processes.running[-1].pid)
    return url, lambda: sum(worker.memory_info().rss for worker in master.children())


@pytest.fixture
def misbehaving():
    started = []

    def start(behaviour):
        started.append(MisbehavingTarget(behaviour).start())
        return started[-1]

    yield start
    for server in started:
        server.stop()


def export_to(service_url, fake_rossum, url, **settings) -> tuple[list[dict], float]:
    payload = build_payload(simple_settings(url), base_url=fake_rossum.url)
    payload["settings"].update(settings)
    started = time.monotonic()
    answer = requests.post(service_url, json=payload, timeout=60).json()
    return answer["messages"], time.monotonic() - started


@pytest.mark.parametrize(
    ("behaviour", "problem"),
    [
        ("huge", "is larger than MAX_REPLY_BYTES (10485760 bytes)"),
        ("endless", "is larger than MAX_REPLY_BYTES (10485760 bytes)"),
        ("drip_after", f"did not arrive whole within {DEADLINE_S:g} s"),
    ],
)
def test_a_reply_too_big_or_too_slow_is_delivered_with_a_warning_and_memory_stays_flat(
    service, misbehaving, fake_rossum, target, behaviour, problem
):
    url, rss = service
    export_to(url, fake_rossum, f"{target.url}/warm-up")  # the worker's first export
    before = rss()
    bad = misbehaving(behaviour)

    found, seconds = export_to(
        url,
        fake_rossum,
        f"{bad.url}/in",
        response_payload_reference_key="erp_reply",
        extract=[{"value_path": "body.id", "target_schema_id": "document_id"}],
    )

    assert found[0]["type"] == "info"
    assert found[0]["content"].startswith("Exported: POST 127.0.0.1")
    assert found[1:] == [
        {
            "type": "warning",
            "content": f"The reply's body {problem}; it was ignored "
            "(not stored, no values extracted).",
        }
    ]
    assert seconds < DEADLINE_S + MARGIN_S
    assert rss() - before < RSS_GROWTH_LIMIT
    stored = [c for c in fake_rossum.calls_to("/api/v1/documents") if c.method == "POST"]
    assert stored == []


def test_a_status_line_that_drips_is_cut_off_at_the_deadline_as_an_unknown_outcome(
    service, misbehaving, fake_rossum
):
    url, _ = service
    bad = misbehaving("drip_before")

    found, seconds = export_to(url, fake_rossum, f"{bad.url}/in")

    host = bad.url.removeprefix("http://")
    assert found == [
        {
            "type": "error",
            "content": f"Export failed (target): POST {host} failed: no answer within "
            f"{DEADLINE_S:g} s after the request was sent; the target may already hold the export",
        }
    ]
    assert DEADLINE_S - 0.5 < seconds < DEADLINE_S + MARGIN_S


def test_a_redirect_with_an_endless_body_is_followed_without_reading_it(
    client, payload_for, misbehaving
):
    redirector = misbehaving("redirect_endless")
    redirector.location = "/moved"

    started = time.monotonic()
    answer = client.post("/", json=payload_for(simple_settings(f"{redirector.url}/in"))).json

    assert answer["messages"][0]["content"].endswith("answered 201 Created"), answer
    # Well inside the 5 s deadline of the test config: the body was never read.
    assert time.monotonic() - started < 4.5
    assert redirector.paths == ["/in", "/moved"]


def test_a_token_endpoint_that_drips_is_cut_off_at_the_deadline(
    make_app, payload_for, target, misbehaving
):
    client = make_app(TARGET_READ_TIMEOUT_S=DEADLINE_S).test_client()
    endpoint = misbehaving("drip_before")
    settings = seed_client_credentials(f"{endpoint.url}/oauth/token", f"{target.url}/in")

    started = time.monotonic()
    answer = client.post("/", json=payload_for(settings, secrets=SECRETS)).json

    host = endpoint.url.removeprefix("http://")
    assert answer["messages"] == [
        {
            "type": "error",
            "content": f"Export failed (token): the token request to {host} failed: "
            "no answer in time",
        }
    ]
    assert DEADLINE_S - 0.5 < time.monotonic() - started < DEADLINE_S + MARGIN_S
    assert target.requests == []
