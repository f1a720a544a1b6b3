"""Secrets never leak (SPEC §7): not in answers, logs or stored documents."""

import base64
import json
import logging
from urllib.parse import quote, quote_plus

import pytest

from tests.builders import SECRETS, simple_settings
from tests.servers import ServerThread, Target, TokenEndpoint

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


# Secrets that every encoding changes: spaces, the URL and form delimiters, quotes,
# backslashes, "/" and non-ASCII.
NASTY_SECRETS = [
    "pa ss+word/&=?#%",
    'qu"o\\te\'s \\"and\\\\',
    "gëhéim-ü-ß/😀",
    "tab\tand\nnewline<>&",
]
CLIENT_ID = "erp-client"


def echo_forms(secret: str) -> dict[str, str]:
    """Every form a careless API may quote a secret back in (SPEC §7)."""
    return {
        "raw": secret,
        "quote": quote(secret, safe=""),
        "quote_slash": quote(secret),
        "quote_plus": quote_plus(secret),
        "json_ascii": json.dumps(secret)[1:-1],
        "json_utf8": json.dumps(secret, ensure_ascii=False)[1:-1],
        "basic": base64.b64encode(f"{CLIENT_ID}:{secret}".encode()).decode(),
        "basic_form": base64.b64encode(f"{CLIENT_ID}:{quote_plus(secret)}".encode()).decode(),
    }


def ascii_header(value: str) -> str:
    return quote(value, safe="") if not value.isascii() or "\n" in value else value


def echo_every_form(request) -> bytes:
    """Quote the secret it received, in each echo form, one per line."""
    secret = request.form["key"]
    return "\n".join(f"{kind}: {form}" for kind, form in echo_forms(secret).items()).encode()


def strings_in(document: bytes) -> bytes:
    """Every string of a JSON document, unescaped, one per line."""

    def strings(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            yield from (text for item in node.items() for text in strings(list(item)))
        elif isinstance(node, list):
            yield from (text for item in node for text in strings(item))

    return "\n".join(strings(json.loads(document))).encode()


def state_store_bytes(tmp_path) -> bytes:
    """The SQLite state store's file and its write-ahead log, as on disk."""
    return b"".join(path.read_bytes() for path in tmp_path.glob("state.sqlite3*"))


@pytest.mark.parametrize("secret", NASTY_SECRETS)
def test_no_outlet_holds_a_secret_in_any_form_it_was_echoed_in(
    post_hook, payload_for, fake_rossum, target, caplog, tmp_path, secret
):
    caplog.set_level(logging.DEBUG)
    token_endpoint = TokenEndpoint(required={"client_secret": secret})
    token_server = ServerThread(token_endpoint).start()
    forms = echo_forms(secret)
    target.reply_with(
        200,
        echo_every_form,
        [("Content-Type", "text/plain; charset=utf-8")]
        + [(f"X-Echo-{kind}", ascii_header(form)) for kind, form in forms.items()],
    )
    settings = {
        "request": {
            "url": f"{target.url}/in",
            "request_data": {"key": "{secret.api_key}", "document": "@{document_id}"},
        },
        "auth": {
            "url": f"{token_server.url}/token",
            "data": {
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": "{secret.api_key}",
            },
        },
        "status_code_resolver": {"warning": [200]},
        "response_headers_reference_key": "reply_headers",
        "response_payload_reference_key": "reply_body",
        "transcript_reference_key": "transcript",
        "extract": [
            {"value_path": "body", "target_schema_id": "document_type"},
            {"value_path": "headers", "target_schema_id": "vendor"},
        ],
    }
    try:
        _, answer = post_hook(payload_for(settings, secrets={"api_key": secret}))
    finally:
        token_server.stop()

    assert target.requests[0].form["key"] == secret  # sent as it is
    [message] = answer["messages"]
    assert message["type"] == "warning"
    extracted = [operation["value"]["content"]["value"] for operation in answer["operations"]]
    documents = {
        d["original_file_name"]: d["content_bytes"] for d in fake_rossum.documents.values()
    }
    stored = state_store_bytes(tmp_path)
    assert b"Exported with a warning" in stored  # the record that answers a repeat
    outlets = {
        "message": message["content"].encode(),
        # what a reader of the JSON documents sees, escapes undone
        "stored reply headers, parsed": strings_in(documents["reply_headers.json"]),
        "transcript, parsed": strings_in(documents["transcript.json"]),
        "extracted body": extracted[0].encode(),
        "extracted headers, parsed": strings_in(extracted[1].encode()),
        "stored reply body": documents["reply_body.txt"],
        "stored reply headers": documents["reply_headers.json"],
        "transcript": documents["transcript.json"],
        "log": service_log(caplog).encode(),
        "state store": stored,
    }
    for outlet, content in outlets.items():
        assert b"********" in content or "transcript" in outlet or outlet == "log", outlet
        for kind, form in forms.items():
            assert form.encode() not in content, f"{kind} form of the secret in the {outlet}"
    assert "quote_plus: ********" in message["content"]  # masked, the rest quoted


def test_values_that_are_not_secret_are_stored_and_quoted_exactly(
    post_hook, payload_for, fake_rossum, target
):
    token_endpoint = TokenEndpoint(
        required={"scope": "invoices:write read", "client_id": "erp-literal-client"}
    )
    token_server = ServerThread(token_endpoint).start()
    reply = json.dumps(
        {
            "id": "erp-19",
            "client_id": "erp-literal-client",
            "scope": "invoices:write read",
            "grant_type": "client_credentials",
            "content_type": "application/json",
        }
    ).encode()
    reply_headers = [
        ("Content-Type", "application/json"),
        ("X-Grant", "client_credentials"),
        ("X-Scope", "invoices:write read"),
    ]
    target.reply_with(201, reply, reply_headers)
    settings = {
        "request": {
            "url": f"{target.url}/in",
            "headers": {"Content-Type": "application/json", "X-Client": "erp-literal-client"},
            "content": '{"client_id": "erp-literal-client"}',
        },
        "auth": {
            "url": f"{token_server.url}/token",
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            "data": {
                "grant_type": "client_credentials",
                "client_id": "erp-literal-client",
                "client_secret": "{secret.client_secret}",
                "scope": "invoices:write read",
            },
        },
        "status_code_resolver": {"warning": [201]},
        "response_headers_reference_key": "reply_headers",
        "response_payload_reference_key": "reply_body",
    }
    try:
        _, answer = post_hook(payload_for(settings, secrets=SECRETS))
    finally:
        token_server.stop()

    assert token_endpoint.requests[0].form["scope"] == "invoices:write read"
    documents = {d["original_file_name"]: d for d in fake_rossum.documents.values()}
    assert documents["reply_body.json"]["content_bytes"] == reply
    headers = json.loads(documents["reply_headers.json"]["content_bytes"])
    assert headers["status_code"] == 201
    assert headers["headers"]["content_type"] == "application/json"
    assert headers["headers"]["x_grant"] == "client_credentials"
    assert headers["headers"]["x_scope"] == "invoices:write read"
    assert [h for h in headers["raw"] if h[0] == "X-Grant"] == [["X-Grant", "client_credentials"]]
    [message] = answer["messages"]
    assert message["content"].endswith(f": {reply.decode()}")


def test_a_token_endpoint_message_naming_fields_is_quoted_exactly(post_hook, payload_for, target):
    token_endpoint = Target()
    token_endpoint.reply_with(
        400,
        json.dumps(
            {"error": "invalid_grant", "error_description": "Invalid 'username' or 'password'"}
        ).encode(),
        {"Content-Type": "application/json"},
    )
    token_server = ServerThread(token_endpoint).start()
    settings = {
        **simple_settings(f"{target.url}/in"),
        "auth": {
            "url": f"{token_server.url}/token",
            "data": {"grant_type": "password", "username": "user", "password": "{secret.pw}"},
        },
    }
    try:
        _, answer = post_hook(payload_for(settings, secrets={"pw": "hunter2-pw"}))
    finally:
        token_server.stop()

    assert token_endpoint.requests[0].form["password"] == "hunter2-pw"
    [message] = answer["messages"]
    assert message["content"].endswith(
        "answered 400: invalid_grant: Invalid 'username' or 'password'"
    ), message
    assert target.requests == []


def test_literal_credential_headers_are_masked_other_literal_headers_are_not(
    post_hook, payload_for, fake_rossum, target
):
    """Authorization credentials are secret by their place, like a literal client_secret;
    any other header written literally (not with {secret.*}) is not a secret."""
    basic = base64.b64encode(b"erp-user:literal-password").decode()
    target.reply_with(200, echo_request, {"Content-Type": "application/json"})
    settings = {
        "request": {
            "url": f"{target.url}/in",
            "headers": {
                "Authorization": "Bearer literal-bearer-credential",
                "Proxy-Authorization": f"Basic {basic}",
                "X-Api-Key": "literal-api-key",
            },
            "request_data": {"echo": "literal-password and erp-user"},
        },
        "response_payload_reference_key": "reply_body",
    }

    post_hook(payload_for(settings))

    [stored] = [
        d for d in fake_rossum.documents.values() if d["original_file_name"] == "reply_body.json"
    ]
    echoed = json.loads(stored["content_bytes"])
    assert echoed["headers"]["Authorization"] == "Bearer ********"
    assert echoed["headers"]["Proxy-Authorization"] == "Basic ********"
    assert echoed["form"] == {"echo": "******** and erp-user"}
    assert echoed["headers"]["X-Api-Key"] == "literal-api-key"
