"""Receipts in Rossum (SPEC §9): a delivered export leaves its key in the annotation's metadata.

Real HTTP throughout: the app under a WSGI server, the fake Rossum keeping the
annotation's metadata as Rossum does, a target that counts what it receives.
"""

import json
import time
from datetime import datetime, timezone

import pytest
import requests

from app.pipeline.receipts import RECEIPTS_KEY, receipts_in, shown_time
from tests.builders import ANNOTATION_ID, simple_settings
from tests.servers import ServerThread

ANNOTATION_PATH = f"/api/v1/annotations/{ANNOTATION_ID}"
KEY_HEADER = "Idempotency-Key"


def keyed_settings(url: str, **export) -> dict:
    """The simple export, sending its idempotency key so the test can see it."""
    settings = simple_settings(
        url, headers={"Content-Type": "text/plain", KEY_HEADER: "#{idempotency_key}"}
    )
    return {**settings, **export}


def metadata_of(fake_rossum) -> dict:
    return fake_rossum.annotations[ANNOTATION_ID]["metadata"]


def annotation_patches(fake_rossum) -> list:
    return [c for c in fake_rossum.calls_to(ANNOTATION_PATH) if c.method == "PATCH"]


def as_redelivered(payload: dict, fake_rossum, request_id: str = "redelivery-2") -> dict:
    """The same hook call sent again by Rossum: a new request id, the metadata as it is now."""
    annotation = {
        **payload["annotation"],
        "metadata": json.loads(json.dumps(metadata_of(fake_rossum))),
    }
    return {**payload, "request_id": request_id, "annotation": annotation}


@pytest.fixture
def fresh_instance(make_app, tmp_path):
    """Start the service afresh with an empty state store: the wiped disk of a restarted dyno."""
    servers = []

    def start(name: str) -> str:
        app = make_app(STATE_URL=f"sqlite:///{tmp_path}/{name}.sqlite3")
        servers.append(ServerThread(app).start())
        return servers[-1].url

    yield start
    for server in servers:
        server.stop()


def post(url: str, payload: dict) -> dict:
    response = requests.post(url, json=payload, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_delivered_export_writes_its_receipt_and_keeps_other_metadata(
    post_hook, payload_for, fake_rossum, target
):
    before = int(time.time())
    _, answer = post_hook(payload_for(keyed_settings(f"{target.url}/in")))
    after = time.time()

    assert [m["type"] for m in answer["messages"]] == ["info"]
    [sent] = target.requests
    metadata = metadata_of(fake_rossum)
    assert metadata["erp_batch"] == "b-17"
    [receipt] = metadata[RECEIPTS_KEY]
    assert set(receipt) == {"key", "exported_at"}  # a key and a time, nothing else
    assert receipt["key"] == sent.headers[KEY_HEADER]
    exported_at = datetime.strptime(receipt["exported_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert before <= exported_at.replace(tzinfo=timezone.utc).timestamp() <= after
    assert len(annotation_patches(fake_rossum)) == 1


@pytest.mark.parametrize(
    "reference", ["response_payload_reference_key", "transcript_reference_key"]
)
def test_with_a_reference_key_one_patch_carries_the_reference_and_the_receipt(
    post_hook, payload_for, fake_rossum, target, reference
):
    settings = keyed_settings(f"{target.url}/in", **{reference: "erp_reply"})

    _, answer = post_hook(payload_for(settings))

    assert [m["type"] for m in answer["messages"]] == ["info"]
    [patch] = annotation_patches(fake_rossum)
    [document_url] = fake_rossum.relation(ANNOTATION_ID, "erp_reply")["documents"]
    patched = json.loads(patch.body)["metadata"]
    assert patched["erp_batch"] == "b-17"
    assert patched["erp_reply"] == document_url
    assert [r["key"] for r in patched[RECEIPTS_KEY]] == [target.requests[0].headers[KEY_HEADER]]
    assert metadata_of(fake_rossum) == patched


@pytest.mark.parametrize("event", ["annotation_content", "annotation_status"])
def test_a_receipt_in_the_payload_stops_a_delivery_that_a_fresh_state_store_would_send(
    post_hook, payload_for, fake_rossum, target, fresh_instance, event
):
    payload = payload_for(simple_settings(f"{target.url}/in"), event=event)
    post_hook(payload)
    assert len(target.requests) == 1
    [receipt] = metadata_of(fake_rossum)[RECEIPTS_KEY]
    writes_before = len(annotation_patches(fake_rossum))

    # The dyno restarted with a wiped disk: its state store knows nothing of the export.
    answer = post(fresh_instance("wiped"), as_redelivered(payload, fake_rossum))

    shown = shown_time(receipt["exported_at"])
    assert answer == {
        "messages": [{"type": "info", "content": f"Already exported at {shown}; not sent again."}],
        "operations": [],
    }
    assert len(target.requests) == 1
    assert len(annotation_patches(fake_rossum)) == writes_before  # nothing written either
    # Without the receipt, an empty state store would have sent it again.
    post(fresh_instance("wiped-again"), payload)
    assert len(target.requests) == 2


def test_three_exports_of_one_hook_call_leave_three_receipts(
    post_hook, payload_for, fake_rossum, target, fresh_instance
):
    settings = {
        "export_configs": [keyed_settings(f"{target.url}/{name}") for name in ("a", "b", "c")]
    }
    payload = payload_for(settings)

    post_hook(payload)

    keys = [sent.headers[KEY_HEADER] for sent in target.requests]
    assert len(set(keys)) == 3
    receipts = metadata_of(fake_rossum)[RECEIPTS_KEY]
    assert [r["key"] for r in receipts] == keys
    assert metadata_of(fake_rossum)["erp_batch"] == "b-17"
    assert len(annotation_patches(fake_rossum)) == 3  # one per export

    answer = post(fresh_instance("wiped"), as_redelivered(payload, fake_rossum))

    assert answer["messages"] == [
        {
            "type": "info",
            "content": f"export_configs[{index}]: Already exported at "
            f"{shown_time(receipt['exported_at'])}; not sent again.",
        }
        for index, receipt in enumerate(receipts)
    ]
    assert len(target.requests) == 3


def test_an_export_finished_in_the_background_writes_its_receipt(
    make_app, payload_for, fake_rossum, target, fresh_instance
):
    sync_wait_s = 0.5
    target.reply_with(201, b"{}", {"Content-Type": "application/json"}, delay_s=sync_wait_s + 2)
    server = ServerThread(make_app(SYNC_WAIT_S=sync_wait_s)).start()
    try:
        payload = payload_for(simple_settings(f"{target.url}/in"))
        accepted = requests.post(server.url, json=payload, timeout=30)
        assert accepted.status_code == 202
        answer = poll_job(accepted.headers["Location"])
    finally:
        server.stop()

    assert [m["type"] for m in answer["messages"]] == ["info"]
    assert len(metadata_of(fake_rossum)[RECEIPTS_KEY]) == 1
    again = post(fresh_instance("wiped"), as_redelivered(payload, fake_rossum))
    assert again["messages"][0]["content"].startswith("Already exported at ")
    assert len(target.requests) == 1


def poll_job(url: str, seconds: float = 20) -> dict:
    """GET a job until it is answered 201 (bounded; busy-machine hiccups retried)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            response = requests.get(url, timeout=10)
            if response.status_code == 201:
                return response.json()
        except requests.RequestException:
            pass  # retried until the deadline
        time.sleep(0.2)
    raise AssertionError(f"the job at {url} was not answered within {seconds} s")


def test_the_newest_50_receipts_are_kept(post_hook, payload_for, fake_rossum, target):
    old = [{"key": f"old-{i:02}", "exported_at": f"2026-01-01T00:00:{i:02}Z"} for i in range(50)]
    metadata_of(fake_rossum)[RECEIPTS_KEY] = old

    post_hook(payload_for(keyed_settings(f"{target.url}/in")))

    receipts = metadata_of(fake_rossum)[RECEIPTS_KEY]
    assert len(receipts) == 50
    assert receipts[:49] == old[1:]  # the oldest one made room
    assert receipts[49]["key"] == target.requests[0].headers[KEY_HEADER]
    assert metadata_of(fake_rossum)["erp_batch"] == "b-17"


def test_a_receipt_that_cannot_be_written_is_a_warning_and_the_state_store_still_protects(
    post_hook, payload_for, fake_rossum, target
):
    fake_rossum.fail_next("PATCH", ANNOTATION_PATH, 500, body={"detail": "Metadata locked"})
    payload = payload_for(simple_settings(f"{target.url}/in"))

    _, answer = post_hook(payload)

    assert [m["type"] for m in answer["messages"]] == ["info", "warning"]
    assert answer["messages"][0]["content"].startswith("Exported:")
    warning = answer["messages"][1]["content"]
    assert warning.startswith("Exported, but its receipt could not be written into the annotation")
    assert RECEIPTS_KEY in warning and "answered 500: Metadata locked" in warning
    assert RECEIPTS_KEY not in metadata_of(fake_rossum)
    assert len(target.requests) == 1

    _, repeat = post_hook({**payload, "request_id": "redelivery-2"})

    assert repeat["messages"][-1]["content"].startswith("Already exported at ")
    assert len(target.requests) == 1


def test_a_failed_export_writes_no_receipt(post_hook, payload_for, fake_rossum, target):
    target.reply_with(422, b'{"error": "bad invoice"}', {"Content-Type": "application/json"})
    settings = {
        **simple_settings(f"{target.url}/in"),
        "status_code_resolver": {"error": [422]},
        "response_payload_reference_key": "erp_reply",
    }

    _, answer = post_hook(payload_for(settings))

    assert answer["messages"][0]["type"] == "error"
    metadata = metadata_of(fake_rossum)
    assert "erp_reply" in metadata  # the reply is stored all the same
    assert RECEIPTS_KEY not in metadata
    assert len(annotation_patches(fake_rossum)) == 1


def test_deduplicate_false_writes_no_receipt_and_sends_despite_one(
    post_hook, payload_for, fake_rossum, target
):
    settings = simple_settings(f"{target.url}/in")
    payload = payload_for(settings)
    post_hook(payload)
    receipts = metadata_of(fake_rossum)[RECEIPTS_KEY]
    patches = len(annotation_patches(fake_rossum))

    unprotected = as_redelivered(payload, fake_rossum)
    unprotected["settings"] = {**settings, "deduplicate": False}
    _, answer = post_hook(unprotected)

    assert [m["type"] for m in answer["messages"]] == ["info"]
    assert answer["messages"][0]["content"].startswith("Exported:")
    assert len(target.requests) == 2  # the same request, sent again as asked
    assert metadata_of(fake_rossum)[RECEIPTS_KEY] == receipts
    assert len(annotation_patches(fake_rossum)) == patches  # no receipt, no PATCH


@pytest.mark.parametrize(
    "metadata", [None, "not an object", {RECEIPTS_KEY: "garbage"}, {RECEIPTS_KEY: [1, {}]}]
)
def test_metadata_without_usable_receipts_does_not_stop_the_export(
    post_hook, payload_for, fake_rossum, target, metadata
):
    payload = payload_for(simple_settings(f"{target.url}/in"))
    payload["annotation"]["metadata"] = metadata

    status, answer = post_hook(payload)

    assert status == 200
    assert [m["type"] for m in answer["messages"]] == ["info"]
    assert len(target.requests) == 1
    assert len(metadata_of(fake_rossum)[RECEIPTS_KEY]) == 1


@pytest.mark.parametrize(
    ("metadata", "keys"),
    [
        (None, []),
        ({}, []),
        ({RECEIPTS_KEY: {"k": "2026-01-01T00:00:00Z"}}, []),
        (
            {
                RECEIPTS_KEY: [
                    "k0",
                    {"key": "k1"},
                    {"key": 2, "exported_at": "2026-01-01T00:00:00Z"},
                    {"key": "k3", "exported_at": "2026-01-01T00:00:00Z"},
                ]
            },
            ["k3"],
        ),
    ],
)
def test_only_well_formed_receipts_count(metadata, keys):
    assert [entry["key"] for entry in receipts_in(metadata)] == keys


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("2026-12-01T20:15:03Z", "2026-12-01 20:15:03 UTC"),
        ("yesterday", "yesterday"),
        ("x" * 100, "x" * 40),
    ],
)
def test_receipt_times_are_shown_like_the_state_stores(stored, shown):
    assert shown_time(stored) == shown
