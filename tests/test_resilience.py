"""Modes, retries and duplicate protection (SPEC §9) against real local servers."""

import logging
import re

import pytest

from tests.builders import post_at_once, simple_settings
from tests.servers import ServerThread, Target


def retry_settings(url: str, **export) -> dict:
    return {**simple_settings(url), "mode": "retry", **export}


class OnLog(logging.Handler):
    """Runs an action when the service logs a line containing a given text.

    Logging happens synchronously in the exporting thread, so the action is done
    before the service goes on: the test steers a target between attempts.
    """

    def __init__(self, actions: dict):
        super().__init__(logging.WARNING)
        self.actions = dict(actions)

    def emit(self, record):
        message = record.getMessage()
        for needle in list(self.actions):
            if needle in message:
                self.actions.pop(needle)()


@pytest.fixture
def on_log():
    handlers = []

    def install(actions: dict) -> OnLog:
        handler = OnLog(actions)
        logging.getLogger("app.pipeline.retries").addHandler(handler)
        handlers.append(handler)
        return handler

    yield install
    for handler in handlers:
        logging.getLogger("app.pipeline.retries").removeHandler(handler)


def test_retry_mode_survives_a_503_and_a_refused_connection(client, payload_for, on_log):
    first, last = Target(), Target()
    first.reply_with(503, b"busy")
    last.reply_with(201, b'{"id": 7}', {"Content-Type": "application/json"})
    servers = [ServerThread(first).start()]
    port = servers[0].server.server_port
    host = f"127.0.0.1:{port}"
    handler = on_log(
        {
            f"attempt 1 to {host} answered 503": lambda: servers[0].stop(),
            f"attempt 2 to {host} connection refused": lambda: servers.append(
                ServerThread(last, port=port).start()
            ),
        }
    )
    try:
        answer = client.post("/", json=payload_for(retry_settings(f"http://{host}/in"))).json
    finally:
        servers[-1].stop()

    assert handler.actions == {}  # both steps happened
    assert answer["messages"] == [
        {"type": "info", "content": f"Exported: POST {host} answered 201 CREATED after 3 attempts"}
    ]
    assert len(first.requests) == 1 and len(last.requests) == 1


def test_retry_after_is_honoured(client, payload_for, target):
    target.reply_with(503, b"later", {"Retry-After": "1"})
    target.reply_with(201, b"ok")

    answer = client.post("/", json=payload_for(retry_settings(f"{target.url}/in"))).json

    assert answer["messages"][0]["content"].endswith("after 2 attempts")
    gap = target.requests[1].received_at - target.requests[0].received_at
    assert 0.9 <= gap < 5


@pytest.mark.parametrize("status", [400, 500, 501])
def test_other_statuses_are_not_retried(client, payload_for, target, status):
    target.reply_with(status, b"no")

    answer = client.post("/", json=payload_for(retry_settings(f"{target.url}/in"))).json

    assert len(target.requests) == 1
    assert "attempts" not in answer["messages"][0]["content"]


def test_retries_stop_when_the_budget_is_spent(make_app, payload_for, target):
    client = make_app(RETRY_BUDGET_S=1.0).test_client()
    target.reply_with(503, b"busy", {"Retry-After": "3"})

    answer = client.post(
        "/",
        json=payload_for(retry_settings(f"{target.url}/in", status_code_resolver={"error": [503]})),
    ).json

    assert len(target.requests) == 1  # waiting 3 s would overrun the 1 s budget
    assert answer["messages"][0]["type"] == "error"
    assert "answered 503" in answer["messages"][0]["content"]


def test_wait_mode_waits_for_a_slow_target(make_app, payload_for, target):
    client = make_app(TARGET_READ_TIMEOUT_S=15.0).test_client()
    target.reply_with(201, b"slow but fine", delay_s=5)

    answer = client.post("/", json=payload_for(simple_settings(f"{target.url}/in"))).json

    assert answer["messages"][0]["content"].endswith("answered 201 CREATED")
    assert len(target.requests) == 1


def test_a_repeated_delivery_is_not_sent_again(client, payload_for, target):
    payload = payload_for(simple_settings(f"{target.url}/in"))

    first = client.post("/", json=payload).json
    second = client.post("/", json=payload).json

    assert len(target.requests) == 1
    assert second["messages"][0] == first["messages"][0]
    assert re.fullmatch(
        r"Already exported at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC; not sent again\.",
        second["messages"][1]["content"],
    )


def test_concurrent_identical_deliveries_send_once(live_app, payload_for, target):
    # The second arrives while the first is sending, and waits for it (DEDUP_WAIT_S is 5 s).
    target.reply_with(200, b"ok", delay_s=2)
    payload = payload_for(simple_settings(f"{target.url}/in"))
    answers = [r.json() for r in post_at_once([live_app] * 2, payload)]

    assert len(target.requests) == 1
    assert sorted(len(a["messages"]) for a in answers) == [1, 2]
    assert all(a["messages"][0]["type"] == "info" for a in answers)


def test_a_changed_datapoint_or_file_is_sent_again(client, payload_for, fake_rossum, target):
    settings = simple_settings(f"{target.url}/in", content="@{document_id}\n#{file_content}")
    payload = payload_for(settings)
    client.post("/", json=payload)

    payload["annotation"]["content"][0]["children"][0]["content"]["value"] = "INV-2024-0043"
    client.post("/", json=payload)
    fake_rossum.documents[900001]["content_bytes"] = b"changed,file\n"
    client.post("/", json=payload)
    client.post("/", json=payload)  # the same again: not sent

    assert [r.body.split(b"\n")[0] for r in target.requests] == [
        b"INV-2024-0042",
        b"INV-2024-0043",
        b"INV-2024-0043",
    ]
    assert target.requests[2].body.endswith(b"changed,file\n")


def test_a_failed_export_is_not_remembered(client, payload_for, target):
    target.reply_with(500, b"down")
    settings = {**simple_settings(f"{target.url}/in"), "status_code_resolver": {"error": [500]}}
    payload = payload_for(settings)

    first = client.post("/", json=payload).json
    second = client.post("/", json=payload).json

    assert first["messages"][0]["type"] == "error"
    assert second["messages"] == [
        {"type": "info", "content": f"Exported: POST {target.url[7:]} answered 200 OK"}
    ]
    assert len(target.requests) == 2


def test_an_unknown_outcome_is_not_resent_blindly(make_app, payload_for, target):
    client = make_app(TARGET_READ_TIMEOUT_S=0.5).test_client()
    target.reply_with(201, b"too late", delay_s=3)
    payload = payload_for(simple_settings(f"{target.url}/in"))

    first = client.post("/", json=payload).json
    second = client.post("/", json=payload).json

    assert "no answer within 0.5 s" in first["messages"][0]["content"]
    [message] = second["messages"]
    assert message["type"] == "error"
    assert message["content"].startswith("Not sent again: an earlier delivery of this export")
    assert "the target may already hold it" in message["content"]
    assert len(target.requests) == 1


def test_an_unknown_outcome_with_an_idempotency_key_is_resent_with_the_same_key(
    make_app, payload_for, target
):
    client = make_app(TARGET_READ_TIMEOUT_S=0.5).test_client()
    target.reply_with(201, b"too late", delay_s=3)
    settings = simple_settings(
        f"{target.url}/in", headers={"Idempotency-Key": "#{idempotency_key}"}
    )
    payload = payload_for(settings)

    client.post("/", json=payload)
    second = client.post("/", json=payload).json

    assert second["messages"][0]["content"].endswith("answered 200 OK")
    keys = [r.headers["Idempotency-Key"] for r in target.requests]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert re.fullmatch(r"[0-9a-f]{32}", keys[0])


def test_deduplicate_false_sends_every_delivery(client, payload_for, target):
    payload = payload_for({**simple_settings(f"{target.url}/in"), "deduplicate": False})

    client.post("/", json=payload)
    client.post("/", json=payload)

    assert len(target.requests) == 2


def test_retry_mode_does_not_resend_after_a_read_timeout(make_app, payload_for, target):
    client = make_app(RETRY_READ_TIMEOUT_S=0.5).test_client()
    target.reply_with(201, b"too late", delay_s=3)

    answer = client.post("/", json=payload_for(retry_settings(f"{target.url}/in"))).json

    assert len(target.requests) == 1
    assert "the target may already hold the export" in answer["messages"][0]["content"]
