"""Reply handling (SPEC §8): resolver messages, stored replies, extract operations."""

import json

import pytest

from tests.builders import ANNOTATION_ID, simple_settings
from tests.conftest import CSV

ANNOTATION_PATH = f"/api/v1/annotations/{ANNOTATION_ID}"


def settings_for(target, **export):
    return {**simple_settings(f"{target.url}/api/invoices"), **export}


@pytest.mark.parametrize(
    ("status", "resolver", "kind"),
    [
        (500, {"error": [500, 502], "warning": [404]}, "error"),
        (502, {"error": [500, 502], "warning": [404]}, "error"),
        (404, {"error": [500, 502], "warning": [404]}, "warning"),
        (201, {"error": [500, 502], "warning": [404]}, "info"),
        (400, {"error": [500, 502], "warning": [404]}, "info"),  # not listed: success
        (500, None, "info"),  # without a resolver every status is success
    ],
)
def test_status_code_resolver_maps_statuses_to_messages(
    post_hook, payload_for, target, status, resolver, kind
):
    target.reply_with(
        status, b'{"error": "duplicate invoice number"}', {"Content-Type": "application/json"}
    )
    settings = settings_for(target, **({"status_code_resolver": resolver} if resolver else {}))

    _, answer = post_hook(payload_for(settings))

    [message] = answer["messages"]
    assert message["type"] == kind
    host = target.url.removeprefix("http://")
    if kind == "info":
        assert message["content"].startswith(f"Exported: POST {host} answered {status}")
    else:
        assert f"POST {host} answered {status}" in message["content"]
        assert message["content"].endswith('{"error": "duplicate invoice number"}')


def test_error_status_stops_the_remaining_export_configs(post_hook, payload_for, target):
    target.reply_with(500, b"down")
    failing = settings_for(target, status_code_resolver={"error": [500]})
    settings = {"export_configs": [failing, settings_for(target)]}

    _, answer = post_hook(payload_for(settings))

    assert [m["type"] for m in answer["messages"]] == ["error"]
    assert len(target.requests) == 1


def test_long_reply_bodies_are_trimmed_and_binary_ones_summarised(post_hook, payload_for, target):
    target.reply_with(500, b"x" * 5000, {"Content-Type": "text/plain"})
    target.reply_with(500, b"\x00\x01\xff" * 10, {"Content-Type": "application/octet-stream"})
    settings = settings_for(target, status_code_resolver={"error": [500]})

    _, first = post_hook(payload_for(settings))
    _, second = post_hook(payload_for(settings))

    assert first["messages"][0]["content"].endswith(": " + "x" * 1000 + "…")
    assert second["messages"][0]["content"].endswith(": (30 bytes of application/octet-stream)")


def test_headers_document_has_the_spec_shape(post_hook, payload_for, fake_rossum, target):
    target.reply_with(
        201,
        b'{"id": "ERP-1"}',
        [
            ("Content-Type", "application/json"),
            ("X-Trace-Id", "a1"),
            ("X-Trace-Id", "b2"),
            ("Location", "/api/invoices/ERP-1"),
        ],
    )
    settings = settings_for(target, response_headers_reference_key="export_reply_headers")

    _, answer = post_hook(payload_for(settings))

    assert answer["messages"][0]["type"] == "info", answer
    relation = fake_rossum.relation(ANNOTATION_ID, "export_reply_headers")
    document = json.loads(fake_rossum.document_content(relation["documents"][0]))
    raw = document["raw"]
    added_by_the_server = ("Server", "Date", "Content-Length", "Connection")
    assert [pair for pair in raw if pair[0] not in added_by_the_server] == [
        ["Content-Type", "application/json"],
        ["X-Trace-Id", "a1"],
        ["X-Trace-Id", "b2"],
        ["Location", "/api/invoices/ERP-1"],
    ]
    assert document["status_code"] == 201
    assert document["headers"]["content_type"] == "application/json"
    assert document["headers"]["x_trace_id"] == "a1, b2"
    assert document["headers"]["location"] == "/api/invoices/ERP-1"
    assert set(document["headers"]) == {name.lower().replace("-", "_") for name, _ in raw}
    stored = fake_rossum.documents[int(relation["documents"][0].rsplit("/", 1)[1])]
    assert (stored["original_file_name"], stored["mime_type"]) == (
        "export_reply_headers.json",
        "application/json",
    )


@pytest.mark.parametrize(
    ("content_type", "file_name"),
    [
        ("application/json; charset=utf-8", "reply.json"),
        ("application/xml", "reply.xml"),
        ("text/plain", "reply.txt"),
        ("application/pdf", "reply.bin"),
    ],
)
def test_payload_document_is_the_reply_body_unchanged(
    post_hook, payload_for, fake_rossum, target, content_type, file_name
):
    body = "<ok>Příliš žluťoučký</ok>".encode() + bytes(range(3))
    target.reply_with(200, body, {"Content-Type": content_type})

    post_hook(payload_for(settings_for(target, response_payload_reference_key="reply")))

    relation = fake_rossum.relation(ANNOTATION_ID, "reply")
    assert fake_rossum.document_content(relation["documents"][0]) == body
    stored = fake_rossum.documents[int(relation["documents"][0].rsplit("/", 1)[1])]
    assert stored["original_file_name"] == file_name


def test_relation_is_created_then_updated_and_the_old_document_deleted(
    post_hook, payload_for, fake_rossum, target
):
    settings = settings_for(target, response_payload_reference_key="reply", deduplicate=False)
    target.reply_with(200, b"first", {"Content-Type": "text/plain"})
    target.reply_with(200, b"second", {"Content-Type": "text/plain"})

    post_hook(payload_for(settings))
    first_url = fake_rossum.relation(ANNOTATION_ID, "reply")["documents"][0]
    post_hook(payload_for(settings))

    relations = [r for r in fake_rossum.relations if r["key"] == "reply"]
    assert len(relations) == 1
    [second_url] = relations[0]["documents"]
    assert second_url != first_url
    assert fake_rossum.document_content(second_url) == b"second"
    assert int(first_url.rsplit("/", 1)[1]) not in fake_rossum.documents  # deleted
    assert relations[0]["annotation"] == f"{fake_rossum.url}{ANNOTATION_PATH}"


def test_metadata_records_the_documents_and_keeps_other_keys(
    post_hook, payload_for, fake_rossum, target
):
    settings = settings_for(
        target,
        response_headers_reference_key="export_reply_headers",
        response_payload_reference_key="export_reply_payload",
    )

    post_hook(payload_for(settings))

    metadata = dict(fake_rossum.annotations[ANNOTATION_ID]["metadata"])
    assert len(metadata.pop("rest_api_export_receipts")) == 1  # see test_receipts.py
    assert metadata == {
        "erp_batch": "b-17",
        "export_reply_headers": fake_rossum.relation(ANNOTATION_ID, "export_reply_headers")[
            "documents"
        ][0],
        "export_reply_payload": fake_rossum.relation(ANNOTATION_ID, "export_reply_payload")[
            "documents"
        ][0],
    }
    assert len(fake_rossum.calls_to(ANNOTATION_PATH)) == 2  # one read, one PATCH


def test_reply_is_stored_also_when_the_resolver_says_error(
    post_hook, payload_for, fake_rossum, target
):
    target.reply_with(422, b'{"error": "bad"}', {"Content-Type": "application/json"})
    settings = settings_for(
        target, status_code_resolver={"error": [422]}, response_payload_reference_key="reply"
    )

    _, answer = post_hook(payload_for(settings))

    assert answer["messages"][0]["type"] == "error"
    relation = fake_rossum.relation(ANNOTATION_ID, "reply")
    assert fake_rossum.document_content(relation["documents"][0]) == b'{"error": "bad"}'


def test_a_storage_failure_is_reported_next_to_the_export_outcome(
    post_hook, payload_for, fake_rossum, target
):
    fake_rossum.fail_next("POST", "/api/v1/documents", 500, body={"detail": "Storage down"})

    _, answer = post_hook(payload_for(settings_for(target, response_payload_reference_key="r")))

    assert [m["type"] for m in answer["messages"]] == ["info", "error"]
    assert answer["messages"][0]["content"].startswith("Exported:")
    assert answer["messages"][1]["content"] == (
        "Export sent, but storing the reply in Rossum failed: could not store 'r.json': "
        f"POST {fake_rossum.url.removeprefix('http://')}/api/v1/documents answered 500: "
        "Storage down"
    )
    assert target.requests[0].body == CSV


def test_extract_writes_reply_values_into_datapoints(post_hook, payload_for, target):
    target.reply_with(
        201,
        json.dumps({"data": {"id": "ERP-778", "lines": [1, 2]}, "state": "booked"}).encode(),
        {"Content-Type": "application/json", "X-Erp-Status": "queued"},
    )
    settings = settings_for(
        target,
        extract=[
            {"value_path": "body.data.id", "target_schema_id": "document_type"},
            {"value_path": "body.data.lines", "target_schema_id": "item_description"},
            {"value_path": "headers.x_erp_status", "target_schema_id": "language"},
            {"value_path": "status_code", "target_schema_id": "currency"},
            {"value_path": "body.missing", "target_schema_id": "vendor"},
        ],
    )

    _, answer = post_hook(payload_for(settings))

    assert answer["operations"] == [
        {"op": "replace", "id": 1003, "value": {"content": {"value": "ERP-778"}}},
        {"op": "replace", "id": 1041, "value": {"content": {"value": "[1,2]"}}},
        {"op": "replace", "id": 1051, "value": {"content": {"value": "[1,2]"}}},
        {"op": "replace", "id": 1061, "value": {"content": {"value": "[1,2]"}}},
        {"op": "replace", "id": 1005, "value": {"content": {"value": "queued"}}},
        {"op": "replace", "id": 1022, "value": {"content": {"value": "201"}}},
    ]
    assert [m["type"] for m in answer["messages"]] == ["info", "warning"]
    assert answer["messages"][1]["content"] == (
        "extract[4]: 'body.missing' found nothing in the reply; datapoint 'vendor' left unchanged"
    )


def test_extract_to_an_unknown_datapoint_fails_before_sending(post_hook, payload_for, target):
    settings = settings_for(
        target, extract=[{"value_path": "body.id", "target_schema_id": "erp_document_id"}]
    )

    _, answer = post_hook(payload_for(settings))

    assert answer == {
        "messages": [
            {
                "type": "error",
                "content": "Export failed (template): extract[0].target_schema_id: "
                "datapoint 'erp_document_id' is not in the annotation",
            }
        ],
        "operations": [],
    }
    assert target.requests == []


def test_a_reply_echoing_a_secret_is_quoted_and_stored_masked(
    post_hook, payload_for, fake_rossum, target
):
    target.reply_with(400, b'{"error": "bad key s3cr3t-value"}', {"Content-Type": "text/plain"})
    settings = settings_for(
        target,
        status_code_resolver={"error": [400]},
        response_payload_reference_key="reply",
        response_headers_reference_key="headers",
    )
    settings["request"]["headers"]["X-Key"] = "{secret.client_secret}"

    _, answer = post_hook(payload_for(settings))

    assert "s3cr3t-value" not in json.dumps(answer)
    assert answer["messages"][0]["content"].endswith('{"error": "bad key ********"}')
    for document in fake_rossum.documents.values():
        assert b"s3cr3t-value" not in document["content_bytes"]
