"""Raw-body exports end to end: the app under a real server, a fake Rossum, a real target."""

import pytest

from tests.builders import ANNOTATION_ID, simple_settings
from tests.conftest import CSV, EXPORT_KEY, PDF


def test_simple_rest_api_call_sends_the_export_file_unchanged(
    post_hook, payload_for, fake_rossum, target
):
    status, answer = post_hook(payload_for(simple_settings(f"{target.url}/api/invoices")))

    assert status == 200
    assert answer == {
        "messages": [
            {"type": "info", "content": f"Exported: POST {target.url[7:]} answered 200 OK"}
        ],
        "operations": [],
    }
    [received] = target.requests
    assert received.method == "POST"
    assert received.path == "/api/invoices"
    assert received.headers["Content-Type"] == "text/plain"
    assert received.body == CSV
    relation_lookup = fake_rossum.calls_to("/api/v1/document_relations")[0]
    assert relation_lookup.args == {
        "type": "export",
        "annotation": str(ANNOTATION_ID),
        "key": EXPORT_KEY,
    }


def test_original_file_carries_every_byte_value_intact(post_hook, payload_for, target):
    settings = {
        "request": {
            "url": f"{target.url}/upload",
            "headers": {"Content-Type": "application/pdf"},
            "content": "#{original_file}",
        }
    }

    status, answer = post_hook(payload_for(settings))

    assert status == 200, answer
    assert answer["messages"][0]["type"] == "info"
    assert target.requests[0].body == PDF
    assert bytes(range(256)) in target.requests[0].body


def test_text_mixing_literals_and_the_file(post_hook, payload_for, target):
    settings = simple_settings(
        f"{target.url}/api/invoices",
        content="invoice @{document_id} of annotation #{annotation_id}:\n#{file_content}--end",
    )

    status, answer = post_hook(payload_for(settings))

    assert answer["messages"][0]["type"] == "info", answer
    assert target.requests[0].body == (
        b"invoice INV-2024-0042 of annotation 314521:\n" + CSV + b"--end"
    )


def test_placeholders_in_url_and_headers_are_rendered(post_hook, payload_for, target):
    settings = simple_settings(
        f"{target.url}/invoices/@{{document_id}}?request=#{{request_id}}",
        headers={"Authorization": "Basic {secret.client_id}", "X-Amount": "@{amount_total}"},
    )

    post_hook(payload_for(settings))

    [received] = target.requests
    assert received.path == "/invoices/INV-2024-0042"
    assert received.args == {"request": "ae7bc8dd-73bd-489b-a3d2-f5214b209591"}
    assert received.headers["Authorization"] == "Basic my-client"
    assert received.headers["X-Amount"] == "1 234.50"


@pytest.mark.parametrize(
    "condition", ["", "false", "FALSE", " False ", "@{api_gate_off}", "@{no_such_field}"]
)
def test_condition_empty_or_false_skips_the_export(
    post_hook, payload_for, fake_rossum, target, condition
):
    settings = {**simple_settings(f"{target.url}/x"), "condition": condition}

    status, answer = post_hook(payload_for(settings))

    assert status == 200
    assert answer["messages"] == [
        {"type": "info", "content": "Export skipped: its condition is empty or false."}
    ]
    assert target.requests == []
    assert fake_rossum.calls == []


@pytest.mark.parametrize("condition", ["@{api_gate}", "true", "yes", "0"])
def test_condition_with_a_value_runs_the_export(post_hook, payload_for, target, condition):
    settings = {**simple_settings(f"{target.url}/x"), "condition": condition}

    status, answer = post_hook(payload_for(settings))

    assert answer["messages"][0]["content"].startswith("Exported:")
    assert len(target.requests) == 1


def test_annotation_status_event_fetches_the_content_by_url(
    post_hook, payload_for, fake_rossum, target
):
    settings = simple_settings(f"{target.url}/x", content="@{document_id}")

    status, answer = post_hook(payload_for(settings, event="annotation_status"))

    assert status == 200
    assert answer["messages"][0]["type"] == "info", answer
    assert target.requests[0].body == b"INV-2024-0042"
    [content_call] = fake_rossum.calls_to(f"/api/v1/annotations/{ANNOTATION_ID}/content")
    assert content_call.headers["Authorization"] == f"Bearer {fake_rossum.token}"


def test_missing_export_relation_fails_naming_the_key(post_hook, payload_for, target):
    settings = {**simple_settings(f"{target.url}/x"), "export_reference_key": "no_such_key"}

    status, answer = post_hook(payload_for(settings))

    assert status == 200
    [message] = answer["messages"]
    assert message["type"] == "error"
    assert "Rossum API" in message["content"]
    assert "'no_such_key'" in message["content"]
    assert target.requests == []


def test_missing_secret_fails_naming_the_secret_and_sends_nothing(
    post_hook, payload_for, fake_rossum, target
):
    settings = simple_settings(f"{target.url}/x", headers={"X-Key": "{secret.api_key}"})

    status, answer = post_hook(payload_for(settings))

    [message] = answer["messages"]
    assert message == {
        "type": "error",
        "content": "Export failed (template): request.headers.X-Key: secret 'api_key' "
        "({secret.api_key}) is not set in the hook's secrets",
    }
    assert target.requests == []


def test_missing_datapoint_fails_naming_it(post_hook, payload_for, target):
    settings = simple_settings(f"{target.url}/x", content="@{vendor_name}")

    status, answer = post_hook(payload_for(settings))

    assert answer["messages"][0]["type"] == "error"
    assert "'vendor_name'" in answer["messages"][0]["content"]
    assert "request.content" in answer["messages"][0]["content"]
    assert target.requests == []


def test_export_configs_run_in_order_and_stop_at_the_first_failure(post_hook, payload_for, target):
    settings = {
        "export_configs": [
            simple_settings(f"{target.url}/first"),
            simple_settings(f"{target.url}/second", content="{secret.missing}"),
            simple_settings(f"{target.url}/third"),
        ]
    }

    status, answer = post_hook(payload_for(settings))

    assert [m["type"] for m in answer["messages"]] == ["info", "error"]
    assert answer["messages"][0]["content"].startswith("export_configs[0]: Exported:")
    assert answer["messages"][1]["content"].startswith("export_configs[1]: Export failed")
    assert [r.path for r in target.requests] == ["/first"]


def test_request_without_a_body(post_hook, payload_for, fake_rossum, target):
    settings = {
        "request": {"url": f"{target.url}/invoices/@{{document_id}}/approve", "method": "put"}
    }

    status, answer = post_hook(payload_for(settings))

    assert answer["messages"][0]["content"] == (f"Exported: PUT {target.url[7:]} answered 200 OK")
    [received] = target.requests
    assert (received.method, received.path, received.body) == (
        "PUT",
        "/invoices/INV-2024-0042/approve",
        b"",
    )
    assert fake_rossum.fetches() == []  # no file was needed, so none was fetched


def test_rossum_429_is_retried_after_its_retry_after(post_hook, payload_for, fake_rossum, target):
    fake_rossum.fail_next("GET", "/api/v1/document_relations", 429, headers={"Retry-After": "0"})

    status, answer = post_hook(payload_for(simple_settings(f"{target.url}/x")))

    assert answer["messages"][0]["type"] == "info", answer
    assert len(fake_rossum.calls_to("/api/v1/document_relations")) == 2
    assert target.requests[0].body == CSV


def test_rossum_error_names_the_failed_call_and_status(post_hook, payload_for, fake_rossum, target):
    fake_rossum.fail_next(
        "GET", "/api/v1/document_relations", 503, body={"detail": "Service unavailable"}
    )

    status, answer = post_hook(payload_for(simple_settings(f"{target.url}/x")))

    [message] = answer["messages"]
    assert message["type"] == "error"
    assert (
        "Export failed (Rossum API): could not look up the export document" in (message["content"])
    )
    assert "answered 503: Service unavailable" in message["content"]
    assert target.requests == []


def test_target_refusing_connections_gives_an_error_naming_the_host(post_hook, payload_for):
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    settings = simple_settings(f"http://127.0.0.1:{port}/x")

    status, answer = post_hook(payload_for(settings))

    assert answer["messages"] == [
        {
            "type": "error",
            "content": f"Export failed (target): POST 127.0.0.1:{port} failed: connection refused",
        }
    ]


def test_export_path_answers_like_root(post_hook, payload_for, target):
    status, answer = post_hook(payload_for(simple_settings(f"{target.url}/x")), path="/export")

    assert status == 200
    assert answer["messages"][0]["type"] == "info"
    assert target.requests[0].body == CSV
