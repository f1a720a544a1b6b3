"""The app factory and the answers to calls that are not usable hook calls (SPEC §2)."""

import pytest

from app import create_app
from app.config import Config
from tests.builders import build_payload, simple_settings


def test_factory_applies_test_config_over_the_environment(monkeypatch):
    monkeypatch.setenv("TARGET_READ_TIMEOUT_S", "12.5")

    assert create_app().config["TARGET_READ_TIMEOUT_S"] == 12.5
    assert create_app({"TARGET_READ_TIMEOUT_S": 3.0}).config["TARGET_READ_TIMEOUT_S"] == 3.0
    assert not create_app().testing
    assert create_app({"TESTING": True}).testing


def test_config_rejects_a_malformed_number():
    with pytest.raises(ValueError, match="ROSSUM_TIMEOUT_S='soon'"):
        Config.from_env({"ROSSUM_TIMEOUT_S": "soon"})


def test_healthz(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def error_answer(content):
    return {"messages": [{"type": "error", "content": content}], "operations": []}


@pytest.mark.parametrize(
    ("body", "content"),
    [
        (b"not json", "Invalid hook payload: the body is not valid JSON"),
        (b"[1, 2]", "Invalid hook payload: must be a JSON object, not an array"),
        (b"{}", "Invalid hook payload: event: is required"),
        (b'{"event": 5}', "Invalid hook payload: event: must be a string, not a number"),
        (b"\xff\xfe", "Invalid hook payload: the body is not valid JSON"),
    ],
)
def test_unusable_bodies_get_400(client, body, content):
    response = client.post("/", data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.json == error_answer(content)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda p: p.pop("base_url"), "base_url: is required"),
        (lambda p: p.pop("rossum_authorization_token"), "rossum_authorization_token: is required"),
        (lambda p: p.update(hook=7), "hook: must be a string"),
        (lambda p: p.update(settings="{}"), "settings: must be an object"),
        (lambda p: p.update(secrets=[]), "secrets: must be an object of strings"),
        (lambda p: p.update(annotation="x"), "annotation: must be an object"),
        (lambda p: p["annotation"].update(id="314521"), "annotation.id: must be an integer"),
        (lambda p: p["annotation"].pop("url"), "annotation.url: is required"),
        (
            lambda p: p["annotation"].update(content="x"),
            "annotation.content: must be the content tree (an array), not a string",
        ),
        (lambda p: p.update(document=[]), "document: must be an object"),
    ],
)
def test_payload_fields_are_checked_by_type(client, change, problem):
    payload = build_payload({"request": {"url": "https://erp.example.com"}})
    change(payload)

    response = client.post("/", json=payload)

    assert response.status_code == 400
    assert response.json == error_answer(f"Invalid hook payload: {problem}")


def test_status_event_needs_a_content_url(client):
    payload = build_payload(event="annotation_status")
    payload["annotation"]["content"] = []

    response = client.post("/", json=payload)

    assert response.status_code == 400
    assert (
        "annotation.content: must be the URL of the content"
        in response.json["messages"][0]["content"]
    )


def test_original_file_without_document_is_400(client):
    payload = build_payload(
        {"request": {"url": "https://x.example", "content": "#{original_file}"}}
    )
    del payload["document"]

    response = client.post("/", json=payload)

    assert response.status_code == 400
    assert response.json == error_answer(
        "Invalid hook payload: document: is required: request uses #{original_file}"
    )


@pytest.mark.parametrize("event", ["annotation_content", "annotation_status"])
def test_other_events_are_answered_with_nothing(client, event):
    payload = {"event": "invocation", "action": "scheduled"}

    response = client.post("/", json=payload)

    assert response.status_code == 200
    assert response.json == {"messages": [], "operations": []}


def test_invalid_settings_answer_200_with_one_error_listing_every_problem(client):
    payload = build_payload({"request": {"url": 1, "methd": "GET"}, "mode": "x"})

    response = client.post("/", json=payload)

    assert response.status_code == 200
    assert response.json == error_answer(
        "Invalid extension settings: request.url: must be a string; "
        "request.methd: unknown key (did you mean 'method'?); "
        "mode: must be one of wait, retry, not 'x'"
    )


def test_an_unexpected_bug_is_500_with_a_generic_message_and_a_logged_traceback(
    client, payload_for, monkeypatch, caplog
):
    def broken(prepared):
        raise RuntimeError("boom s3cr3t-value")

    monkeypatch.setattr("app.jobs.run_prepared", broken)

    response = client.post("/", json=payload_for(simple_settings("https://erp.example.com")))

    assert response.status_code == 500
    assert response.json == error_answer(
        "Internal error in the REST API export service; it has been logged."
    )
    assert "Traceback" in caplog.text and "RuntimeError" in caplog.text
    assert "s3cr3t" not in response.get_data(as_text=True)


def test_unknown_routes_answer_in_the_same_json_shape(client):
    response = client.get("/nowhere")

    assert response.status_code == 404
    assert response.json["messages"][0]["type"] == "error"
    assert client.get("/").status_code == 405
