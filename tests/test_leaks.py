"""Secrets never leak (SPEC §7): not in answers, logs or stored documents."""

import json
import logging

import pytest

from tests.builders import SECRETS, simple_settings
from tests.servers import ServerThread, TokenEndpoint

API_KEY = "api-key-0f9e8d7c"
ACCESS_TOKENS = ("token-1", "token-2")


def echo_request(request) -> bytes:
    """A careless API that quotes the request's headers and form back."""
    return json.dumps({"headers": dict(request.headers), "form": request.form.to_dict()}).encode()


@pytest.fixture
def token_endpoint():
    endpoint = TokenEndpoint(
        required={
            "grant_type": "client_credentials",
            "client_id": SECRETS["client_id"],
            "client_secret": SECRETS["client_secret"],
        }
    )
    server = ServerThread(endpoint).start()
    endpoint.url = f"{server.url}/token"
    yield endpoint
    server.stop()


def auth_settings(token_url):
    return {
        "url": token_url,
        "data": {
            "grant_type": "client_credentials",
            "client_id": "{secret.client_id}",
            "client_secret": "{secret.client_secret}",
        },
    }


def service_log(caplog) -> str:
    """What the service logged; the local test servers' own access logs are not the service's."""
    return "\n".join(
        caplog.handler.format(record) for record in caplog.records if record.name != "werkzeug"
    )


def everything_said(answer, caplog, fake_rossum) -> str:
    documents = b"".join(
        d["content_bytes"]
        for d in fake_rossum.documents.values()
        if d["mime_type"] != "application/pdf"
    )
    metadata = json.dumps(list(fake_rossum.annotations.values()))
    return (
        json.dumps(answer) + service_log(caplog) + documents.decode("utf-8", "replace") + metadata
    )


def assert_no_secret_in(text, fake_rossum):
    for secret in (*SECRETS.values(), API_KEY, fake_rossum.token, *ACCESS_TOKENS):
        assert secret not in text, f"{secret!r} leaked"


@pytest.mark.parametrize("status", [200, 400])
def test_a_target_echoing_credentials_leaks_nothing(
    post_hook, payload_for, fake_rossum, token_endpoint, target, caplog, status
):
    caplog.set_level(logging.DEBUG)
    target.reply_with(
        status, echo_request, {"Content-Type": "application/json", "X-Echo": f"key={API_KEY}"}
    )
    settings = {
        **simple_settings(
            f"{target.url}/in?key={{secret.api_key}}",
            headers={"X-Api-Key": "{secret.api_key}", "Cookie": "session=literal-cookie-value"},
        ),
        "auth": auth_settings(token_endpoint.url),
        "status_code_resolver": {"error": [400]},
        "response_headers_reference_key": "reply_headers",
        "response_payload_reference_key": "reply_body",
        "extract": [{"value_path": "body.headers", "target_schema_id": "document_type"}],
    }

    _, answer = post_hook(payload_for(settings, secrets={**SECRETS, "api_key": API_KEY}))

    assert target.requests[0].headers["Authorization"] == "Bearer token-1"  # it was sent
    said = everything_said(answer, caplog, fake_rossum)
    assert_no_secret_in(said, fake_rossum)
    assert "literal-cookie-value" not in said
    assert "********" in said


def test_a_token_endpoint_echoing_credentials_leaks_nothing(
    post_hook, payload_for, fake_rossum, token_endpoint, target, caplog
):
    caplog.set_level(logging.DEBUG)
    settings = {**simple_settings(f"{target.url}/in"), "auth": auth_settings(token_endpoint.url)}
    secrets = {**SECRETS, "client_secret": "wrong-but-still-secret"}

    _, answer = post_hook(payload_for(settings, secrets=secrets))

    assert answer["messages"][0]["content"].startswith("Export failed (token)")
    said = everything_said(answer, caplog, fake_rossum)
    assert "wrong-but-still-secret" not in said
    assert_no_secret_in(said, fake_rossum)


def test_an_unexpected_error_logs_its_traceback_redacted(client, payload_for, monkeypatch, caplog):
    def broken(prepared):
        payload = prepared.payload
        raise RuntimeError(f"boom {payload.secrets['client_secret']} {payload.rossum_token}")

    monkeypatch.setattr("app.jobs.run_prepared", broken)

    response = client.post("/", json=payload_for(simple_settings("https://erp.example.com")))

    assert response.status_code == 500
    assert "RuntimeError: boom ******** ********" in caplog.text
    assert SECRETS["client_secret"] not in caplog.text + response.get_data(as_text=True)
