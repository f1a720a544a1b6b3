"""Operability (SPEC §2, §8): validate, settings schema, preview, CLI, metrics, logs, transcript."""

import json
import logging
import re
import time

import jsonschema
import pytest

from app.settings_schema import settings_json_schema
from tests.builders import FIXTURES, SECRETS, simple_settings
from tests.conftest import CSV, PDF
from tests.test_settings import INVALID_SETTINGS

SEED = json.loads((FIXTURES / "seed_examples.json").read_text())
SCHEMA_VALIDATOR = jsonschema.Draft7Validator(settings_json_schema())
INVOICE = {
    "request": {
        "url": "https://erp.example.com/invoices",
        "headers": {
            "X-Total": {"$DATAPOINT_VALUE$": {"schema_id": "amount_total", "value_type": "float"}}
        },
        "content": {
            "number": "@{document_id}",
            "lines": {
                "$FOR_EACH_SCHEMA_ID$": {
                    "schema_id": "line_item",
                    "mapping": {"text": "@{item_description}"},
                }
            },
        },
    },
    "mode": "retry",
    "deduplicate": False,
}
VALID_SETTINGS = [
    *SEED.values(),
    INVOICE,
    {"export_configs": [INVOICE, SEED["Simple REST API call"]]},
    {"request": {"url": "https://x.example", "method": "put"}},
    {
        "request": {
            "url": "https://x.example",
            "data": {"a": "@{b}"},
            "file_key": "f",
            "file_name": "x.pdf",
        }
    },
]


def test_validate_accepts_every_documented_example(client):
    for settings in VALID_SETTINGS:
        response = client.post("/validate", json=settings)

        assert (response.status_code, response.json) == (200, {"valid": True})


@pytest.mark.parametrize(("settings", "problems"), INVALID_SETTINGS)
def test_validate_lists_every_problem_with_its_path(client, settings, problems):
    response = client.post("/validate", json=settings)

    assert response.status_code == 422
    assert response.json["valid"] is False
    assert [f"{e['path']}: {e['message']}" for e in response.json["errors"]] == problems


def test_validate_refuses_a_body_that_is_not_an_object(client):
    response = client.post("/validate", data="[]", content_type="application/json")

    assert response.status_code == 422
    assert response.json["errors"] == [
        {"path": "", "message": "settings must be an object, not an array"}
    ]


def test_the_settings_schema_is_draft_7_with_descriptions(client):
    schema = client.get("/settings-schema").json

    jsonschema.Draft7Validator.check_schema(schema)
    export = schema["oneOf"][0]["properties"]
    assert set(export) >= {"request", "auth", "condition", "mode", "deduplicate", "extract"}
    missing = [key for key, value in export.items() if not value.get("description")]
    assert missing == []
    assert export["mode"]["enum"] == ["wait", "retry"] and export["mode"]["default"] == "wait"


@pytest.mark.parametrize("settings", VALID_SETTINGS)
def test_schema_and_marshmallow_agree_on_valid_settings(settings):
    assert list(SCHEMA_VALIDATOR.iter_errors(settings)) == []


@pytest.mark.parametrize(("settings", "problems"), INVALID_SETTINGS)
def test_schema_and_marshmallow_agree_on_invalid_settings(settings, problems):
    assert list(SCHEMA_VALIDATOR.iter_errors(settings)) != []


def test_preview_shows_each_request_masked_and_sends_nothing(
    client, payload_for, fake_rossum, target
):
    settings = {
        "export_configs": [
            simple_settings(
                f"{target.url}/raw?key={{secret.client_secret}}",
                headers={
                    "Authorization": "Basic {secret.client_id}",
                    "X-Idempotency": "#{idempotency_key}",
                },
            ),
            {
                "request": {
                    "url": f"{target.url}/multi",
                    "file_key": "pdf",
                    "request_data": {"vendor": "@{vendor}"},
                },
                "auth": {
                    "url": f"{target.url}/token",
                    "data": {
                        "grant_type": "client_credentials",
                        "client_secret": "{secret.client_secret}",
                    },
                },
            },
            {
                "request": {
                    "url": f"{target.url}/form",
                    "request_data": {"s": "{secret.client_secret}"},
                }
            },
            {**simple_settings(f"{target.url}/skipped"), "condition": "@{api_gate_off}"},
        ]
    }

    response = client.post("/preview", json=payload_for(settings))

    assert response.status_code == 200
    raw, multipart, form, skipped = response.json["requests"]
    assert raw["exporter"] == "RawBodyExporter" and raw["method"] == "POST"
    assert raw["url"] == f"{target.url}/raw?key=********"
    assert raw["headers"]["Authorization"] == "********"
    assert re.fullmatch(r"[0-9a-f]{32}", raw["headers"]["X-Idempotency"])
    assert raw["body"] == {"type": "raw", "size": len(CSV), "text_head": CSV.decode()}
    assert raw["placeholders"] == [
        "{secret.client_secret}",
        "{secret.client_id}",
        "#{idempotency_key}",
        "#{file_content}",
    ]
    assert raw["files"] == [
        {
            "placeholder": "#{file_content}",
            "name": "export.csv",
            "mime_type": "text/csv",
            "size": len(CSV),
        }
    ]
    assert multipart["exporter"] == "MultipartExporter"
    assert multipart["headers"] == {"Authorization": "********"}
    assert multipart["token"] == f"the stored token, or a new one from {target.url[7:]}"
    assert multipart["body"] == {
        "type": "multipart",
        "parts": [
            {"name": "vendor", "text": "East West Trading Co & Sons"},
            {
                "name": "pdf",
                "filename": "invoice 0042.pdf",
                "content_type": "application/pdf",
                "size": len(PDF),
            },
        ],
    }
    assert form["body"] == {"type": "form", "fields": {"s": "********"}}
    assert skipped["skipped"] == "its condition is empty or false"
    assert target.requests == []  # no export, no token request
    assert {call.method for call in fake_rossum.calls} == {"GET"}  # reads only
    assert SECRETS["client_secret"] not in response.get_data(as_text=True)


def test_preview_of_invalid_settings_lists_the_problems(client, payload_for):
    response = client.post("/preview", json=payload_for({"request": {"url": 1}}))

    assert response.status_code == 422
    assert response.json["errors"] == [{"path": "request.url", "message": "must be a string"}]


@pytest.fixture
def payload_file(tmp_path, payload_for, target):
    def write(settings) -> str:
        path = tmp_path / "payload.json"
        path.write_text(json.dumps(payload_for(settings)))
        return str(path)

    return write


def test_cli_preview_sends_nothing(app, payload_file, target):
    result = app.test_cli_runner().invoke(
        args=["preview", payload_file(simple_settings(f"{target.url}/in"))]
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["requests"][0]["url"] == f"{target.url}/in"
    assert target.requests == []


def test_cli_export_sends_and_prints_the_answer(app, payload_file, target):
    result = app.test_cli_runner().invoke(
        args=["export", payload_file(simple_settings(f"{target.url}/in"))]
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["messages"][0]["content"].startswith("Exported: POST")
    assert len(target.requests) == 1


def test_cli_export_exits_1_when_the_export_fails(app, payload_file, target):
    result = app.test_cli_runner().invoke(
        args=["export", payload_file(simple_settings(f"{target.url}/in", content="{secret.x}"))]
    )

    assert result.exit_code == 1
    assert json.loads(result.output)["messages"][0]["type"] == "error"


def metric(client, name: str, **labels) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{name}{{{wanted}}} (\S+)$" if labels else rf"^{name} (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return float(match[1]) if match else 0.0


def test_metrics_move_after_exports(client, payload_for, target):
    before = {
        "success": metric(client, "rest_api_export_exports_total", outcome="success"),
        "skipped": metric(client, "rest_api_export_exports_total", outcome="skipped"),
        "duplicate": metric(client, "rest_api_export_exports_total", outcome="duplicate"),
        "2xx": metric(client, "rest_api_export_target_replies_total", status_class="2xx"),
        "durations": metric(client, "rest_api_export_duration_seconds_count"),
    }
    payload = payload_for(simple_settings(f"{target.url}/in"))
    client.post("/", json=payload)
    client.post("/", json=payload)  # a duplicate
    client.post(
        "/", json=payload_for({**simple_settings(f"{target.url}/in"), "condition": "false"})
    )

    assert metric(client, "rest_api_export_exports_total", outcome="success") == (
        before["success"] + 1
    )
    assert metric(client, "rest_api_export_exports_total", outcome="duplicate") == (
        before["duplicate"] + 1
    )
    assert metric(client, "rest_api_export_exports_total", outcome="skipped") == (
        before["skipped"] + 1
    )
    assert metric(client, "rest_api_export_target_replies_total", status_class="2xx") == (
        before["2xx"] + 1
    )
    assert metric(client, "rest_api_export_duration_seconds_count") == before["durations"] + 3
    text = client.get("/metrics").get_data(as_text=True)
    assert "127.0.0.1" not in text and SECRETS["client_secret"] not in text


def test_one_structured_log_line_per_export_without_secrets(client, payload_for, target, caplog):
    caplog.set_level(logging.INFO, logger="app.pipeline")
    settings = simple_settings(
        f"{target.url}/in?k={{secret.client_secret}}", headers={"X-Key": "{secret.client_secret}"}
    )

    client.post("/", json=payload_for(settings))

    [line] = [r.getMessage() for r in caplog.records if '"event": "export"' in r.getMessage()]
    record = json.loads(line)
    assert record == {
        "event": "export",
        "request_id": "ae7bc8dd-73bd-489b-a3d2-f5214b209591",
        "hook_id": "781",
        "annotation_id": 314521,
        "export_index": 0,
        "exporter": "RawBodyExporter",
        "target": target.url[7:],
        "status": 200,
        "attempts": 1,
        "duration_ms": record["duration_ms"],
        "outcome": "success",
    }
    service_lines = [r.getMessage() for r in caplog.records if r.name.startswith("app")]
    assert SECRETS["client_secret"] not in "\n".join(service_lines)


def test_transcript_is_stored_redacted(client, payload_for, fake_rossum, target):
    target.reply_with(503, b'{"echo": "s3cr3t-value"}', {"Content-Type": "application/json"})
    settings = {
        **simple_settings(f"{target.url}/in", headers={"X-Key": "{secret.client_secret}"}),
        "mode": "retry",
        "transcript_reference_key": "export_transcript",
    }

    answer = client.post("/", json=payload_for(settings)).json

    assert answer["messages"][0]["content"].endswith("after 2 attempts")
    relation = fake_rossum.relation(314521, "export_transcript")
    raw = fake_rossum.document_content(relation["documents"][0])
    transcript = json.loads(raw)
    assert b"s3cr3t-value" not in raw
    assert transcript["requests"][0]["headers"]["X-Key"] == "********"
    assert [a["outcome"] for a in transcript["attempts"]] == ["answered 503", "answered 200"]
    assert transcript["reply"]["status_code"] == 200
    assert transcript["placeholders"] == ["{secret.client_secret}", "#{file_content}"]
    metadata = fake_rossum.annotations[314521]["metadata"]
    assert metadata["export_transcript"] == relation["documents"][0]


def test_transcript_of_a_failed_export(client, payload_for, fake_rossum):
    settings = {
        **simple_settings("http://127.0.0.1:9/in"),
        "transcript_reference_key": "export_transcript",
    }

    answer = client.post("/", json=payload_for(settings)).json

    assert answer["messages"][0]["type"] == "error"
    relation = fake_rossum.relation(314521, "export_transcript")
    transcript = json.loads(fake_rossum.document_content(relation["documents"][0]))
    assert transcript["failure"] == "target: POST 127.0.0.1:9 failed: connection refused"
    assert transcript["attempts"][0]["outcome"] == "connection refused"


def test_cli_refuses_an_unusable_payload_with_the_reason(app, payload_file):
    result = app.test_cli_runner().invoke(args=["preview", payload_file({"request": {"url": 1}})])

    assert result.exit_code == 1
    assert "request.url: must be a string" in result.output


def test_running_jobs_are_counted(make_app, payload_for, target):
    app = make_app(SYNC_WAIT_S=0.2)
    client = app.test_client()
    target.reply_with(200, b"ok", delay_s=3)  # still running seconds after the 202

    answer = client.post("/", json=payload_for(simple_settings(f"{target.url}/in")))
    running = metric(client, "rest_api_export_jobs_running")
    deadline = time.monotonic() + 30
    while client.get(answer.headers["Location"]).status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.1)

    assert answer.status_code == 202
    assert running == 1.0
    assert metric(client, "rest_api_export_jobs_running") == 0.0
