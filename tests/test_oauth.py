"""OAuth2 end to end (SPEC §6): a real token endpoint, a target that wants the token."""

import base64
import hashlib
import json
import logging
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, unquote, unquote_plus

import pytest

from tests.builders import FIXTURES, SECRETS, post_at_once, simple_settings
from tests.servers import ServerThread, TokenEndpoint

SEED = json.loads((FIXTURES / "seed_examples.json").read_text())
HOOK_PATH = "/api/v1/hooks/781"
CLIENT_CREDENTIALS = {
    "grant_type": "client_credentials",
    "client_id": "my-client",
    "client_secret": "s3cr3t-value",
    "scope": "invoice.create invoice.read",
}


@pytest.fixture
def token_endpoint():
    endpoint = TokenEndpoint(required=CLIENT_CREDENTIALS)
    server = ServerThread(endpoint).start()
    endpoint.url = f"{server.url}/oauth/token"
    yield endpoint
    server.stop()


def seed_client_credentials(token_url: str, target_url: str) -> dict:
    """The seed's "more complex OAuth2 setup", pointed at local servers."""
    settings = json.loads(json.dumps(SEED["REST API call with OAuth2 (more complex)"]))
    settings["auth"]["url"] = token_url
    settings["request"]["url"] = target_url
    for key in ("condition", "response_headers_reference_key", "response_payload_reference_key"):
        settings.pop(key)
    return settings


def spec_fingerprint(auth: dict) -> str:
    """SPEC §6: 12 hex digits of the SHA-256 of the auth object as canonical JSON."""
    canonical = json.dumps(auth, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def hook_patches(fake_rossum):
    return [call for call in fake_rossum.calls if call.method == "PATCH" and call.path == HOOK_PATH]


def test_first_export_fetches_stores_and_sends_the_token(
    post_hook, payload_for, fake_rossum, token_endpoint, target
):
    target.accepted_tokens = {"token-1"}

    status, answer = post_hook(
        payload_for(seed_client_credentials(token_endpoint.url, f"{target.url}/in"))
    )

    assert answer["messages"][0]["type"] == "info", answer
    [token_request] = token_endpoint.requests
    assert token_request.form == CLIENT_CREDENTIALS
    assert "Authorization" not in token_request.headers  # credentials stay in the body
    [patch] = hook_patches(fake_rossum)
    secrets = json.loads(patch.body)["secrets"]
    assert {k: secrets[k] for k in SECRETS} == SECRETS  # every previous secret kept
    assert secrets["access_token"] == "token-1"
    expires_at = datetime.fromisoformat(secrets["access_token_expires_at"])
    assert timedelta(minutes=59) < expires_at - datetime.now(timezone.utc) <= timedelta(hours=1)
    [received] = target.requests
    assert received.headers["Authorization"] == "Bearer token-1"  # added: none configured
    assert received.headers["Content-Type"] == "text/json"


def stored(token: str, expires_in: timedelta) -> dict:
    expires_at = (datetime.now(timezone.utc) + expires_in).isoformat()
    return {**SECRETS, "access_token": token, "access_token_expires_at": expires_at}


def test_a_fresh_stored_token_is_reused_without_a_token_request(
    post_hook, payload_for, fake_rossum, token_endpoint, target
):
    target.accepted_tokens = {"stored-token"}
    settings = seed_client_credentials(token_endpoint.url, f"{target.url}/in")

    _, answer = post_hook(payload_for(settings, secrets=stored("stored-token", timedelta(hours=1))))

    assert answer["messages"][0]["type"] == "info", answer
    assert token_endpoint.requests == []
    assert hook_patches(fake_rossum) == []
    assert target.requests[0].headers["Authorization"] == "Bearer stored-token"


@pytest.mark.parametrize(
    "secrets",
    [
        stored("old-token", timedelta(seconds=30)),  # expires within a minute
        stored("old-token", -timedelta(hours=1)),
        {**SECRETS, "access_token": "old-token", "access_token_expires_at": "next tuesday"},
    ],
)
def test_an_expiring_or_unparseable_stored_token_is_renewed_before_sending(
    post_hook, payload_for, token_endpoint, target, secrets
):
    target.accepted_tokens = {"token-1"}
    settings = seed_client_credentials(token_endpoint.url, f"{target.url}/in")

    _, answer = post_hook(payload_for(settings, secrets=secrets))

    assert answer["messages"][0]["type"] == "info", answer
    assert len(token_endpoint.requests) == 1
    assert [r.headers["Authorization"] for r in target.requests] == ["Bearer token-1"]


def test_a_401_causes_exactly_one_renewal_and_one_resend(
    post_hook, payload_for, fake_rossum, token_endpoint, target
):
    target.accepted_tokens = {"token-1"}  # the stored token was revoked
    settings = seed_client_credentials(token_endpoint.url, f"{target.url}/in")
    settings["request"]["headers"]["Authorization"] = "Bearer {secret.access_token}"

    _, answer = post_hook(payload_for(settings, secrets=stored("revoked", timedelta(hours=1))))

    assert answer["messages"][0]["type"] == "info", answer
    assert [r.headers["Authorization"] for r in target.requests] == [
        "Bearer revoked",
        "Bearer token-1",
    ]
    assert len(token_endpoint.requests) == 1
    assert len(hook_patches(fake_rossum)) == 1


def test_a_second_refusal_goes_to_the_status_code_resolver(
    post_hook, payload_for, token_endpoint, target
):
    target.accepted_tokens = set()  # refuses every token
    settings = seed_client_credentials(token_endpoint.url, f"{target.url}/in")
    settings["status_code_resolver"] = {"error": [401]}

    _, answer = post_hook(payload_for(settings, secrets=stored("revoked", timedelta(hours=1))))

    assert len(target.requests) == 2
    assert len(token_endpoint.requests) == 1
    assert answer["messages"][0]["type"] == "error"
    assert "answered 401" in answer["messages"][0]["content"]


def test_refresh_status_codes_also_renew(post_hook, payload_for, token_endpoint, target):
    target.reply_with(403, b'{"error": "token expired"}')
    settings = seed_client_credentials(token_endpoint.url, f"{target.url}/in")
    settings["auth"]["refresh_status_codes"] = [403]

    _, answer = post_hook(payload_for(settings, secrets=stored("stale", timedelta(hours=1))))

    assert answer["messages"][0]["type"] == "info", answer
    assert [r.headers["Authorization"] for r in target.requests] == [
        "Bearer stale",
        "Bearer token-1",
    ]


def test_wrong_credentials_fail_without_revealing_them(
    post_hook, payload_for, fake_rossum, token_endpoint, target, caplog
):
    caplog.set_level(logging.DEBUG)
    wrong = {**SECRETS, "client_secret": "wr0ng-s3cret-value"}
    settings = seed_client_credentials(token_endpoint.url, f"{target.url}/in")

    _, answer = post_hook(payload_for(settings, secrets=wrong))

    host = token_endpoint.url.split("/")[2]
    assert answer["messages"] == [
        {
            "type": "error",
            "content": f"Export failed (token): the token endpoint {host} answered 401: "
            "invalid_client: bad credentials ********",
        }
    ]
    assert target.requests == []
    everything = json.dumps(answer) + caplog.text
    for secret in ("wr0ng-s3cret-value", "my-client", fake_rossum.token):
        assert secret not in everything


def test_seed_password_example_without_grant_type(post_hook, payload_for, target):
    endpoint = TokenEndpoint(
        required={"grant_type": "password", "username": "your_username", "password": "pa55word"}
    )
    server = ServerThread(endpoint).start()
    try:
        settings = json.loads(json.dumps(SEED["REST API call with OAuth2"]))
        settings["auth"]["url"] = f"{server.url}/token"
        settings["request"]["url"] = f"{target.url}/in"
        target.accepted_tokens = {"token-1"}

        _, answer = post_hook(payload_for(settings, secrets={"password": "pa55word"}))
    finally:
        server.stop()

    assert answer["messages"][0]["type"] == "info", answer
    assert endpoint.requests[0].form == {
        "grant_type": "password",
        "username": "your_username",
        "password": "pa55word",
    }
    assert target.requests[0].headers["Authorization"] == "Bearer token-1"


def test_seed_azure_example_sends_the_subscription_key_on_the_token_request(
    post_hook, payload_for, target
):
    endpoint = TokenEndpoint(
        required={
            "grant_type": "client_credentials",
            "client_id": "app-id",
            "client_secret": "azure-s3cret",
            "scope": "api://erp/.default",
        }
    )
    endpoint.required_headers = {"Ocp-Apim-Subscription-Key": "sub-key-1"}
    server = ServerThread(endpoint).start()
    try:
        settings = json.loads(json.dumps(SEED["Sending application/x-www-form-urlencoded"]))
        settings["auth"]["url"] = f"{server.url}/token"
        settings["auth"]["headers"]["Ocp-Apim-Subscription-Key"] = "sub-key-1"
        settings["auth"]["data"].update(
            grant_type="client_credentials", client_id="app-id", scope="api://erp/.default"
        )
        settings["request"]["url"] = f"{target.url}/in"
        settings["request"]["headers"]["Ocp-Apim-Subscription-Key"] = "sub-key-1"
        settings["export_reference_key"] = "export_annotation_to_csv"

        _, answer = post_hook(payload_for(settings, secrets={"client_secret": "azure-s3cret"}))
    finally:
        server.stop()

    assert answer["messages"][0]["type"] == "info", answer
    [received] = target.requests
    assert received.headers["Authorization"] == "Bearer token-1"
    assert received.headers["Ocp-Apim-Subscription-Key"] == "sub-key-1"


def test_token_path_json_body_and_no_expiry(post_hook, payload_for, fake_rossum, target):
    endpoint = TokenEndpoint(required={"user": "api", "key": "k3y-value"}, expires_in=None)
    endpoint.shape = lambda token: {"data": {"token": token}}
    server = ServerThread(endpoint).start()
    try:
        settings = {
            **simple_settings(f"{target.url}/in"),
            "auth": {
                "url": f"{server.url}/login",
                "headers": {"Content-Type": "application/json"},
                "data": {"user": "api", "key": "{secret.api_key}"},
                "token_path": "data.token",
            },
        }
        payload = payload_for(
            settings,
            secrets={**SECRETS, "api_key": "k3y-value", "access_token_expires_at": "2020-01-01"},
        )
        target.accepted_tokens = {"token-1"}

        _, answer = post_hook(payload)
    finally:
        server.stop()

    assert answer["messages"][0]["type"] == "info", answer
    assert json.loads(endpoint.requests[0].body) == {"user": "api", "key": "k3y-value"}
    secrets = json.loads(hook_patches(fake_rossum)[0].body)["secrets"]
    assert secrets["access_token"] == "token-1"
    assert "access_token_expires_at" not in secrets  # no lifetime given: kept until refused


def test_several_auth_objects_each_keep_their_own_token(
    post_hook, payload_for, fake_rossum, target
):
    first = TokenEndpoint(required={"grant_type": "client_credentials", "client_id": "a"})
    second = TokenEndpoint(required={"grant_type": "client_credentials", "client_id": "b"})
    servers = [ServerThread(first).start(), ServerThread(second).start()]
    try:
        auths = [
            {
                "url": f"{servers[0].url}/t",
                "data": {"grant_type": "client_credentials", "client_id": "a"},
            },
            {
                "url": f"{servers[1].url}/t",
                "data": {"grant_type": "client_credentials", "client_id": "b"},
            },
        ]
        settings = {
            "export_configs": [
                {
                    "auth": auth,
                    "request": {
                        "url": f"{target.url}/{i}",
                        "content": "token={secret.access_token}",
                    },
                }
                for i, auth in enumerate(auths)
            ]
        }

        _, answer = post_hook(payload_for(settings))
    finally:
        for server in servers:
            server.stop()

    assert [m["type"] for m in answer["messages"]] == ["info", "info"], answer
    names = [f"access_token_{spec_fingerprint(auth)}" for auth in auths]
    last_secrets = json.loads(hook_patches(fake_rossum)[-1].body)["secrets"]
    assert last_secrets[names[0]] == "token-1" and last_secrets[names[1]] == "token-1"
    assert {k: last_secrets[k] for k in SECRETS} == SECRETS
    assert "access_token" not in last_secrets
    assert [r.body for r in target.requests] == [b"token=token-1", b"token=token-1"]
    assert [r.form for r in first.requests + second.requests] == [
        auths[0]["data"],
        auths[1]["data"],
    ]


def test_parallel_exports_of_one_hook_share_one_token_request(
    live_app, payload_for, token_endpoint, target
):
    token_endpoint.delay_s = 0.3  # both exports ask while the first request is in flight
    target.accepted_tokens = {"token-1"}
    payload = payload_for(seed_client_credentials(token_endpoint.url, f"{target.url}/in"))
    answers = [r.json() for r in post_at_once([live_app] * 3, payload)]

    assert [a["messages"][0]["type"] for a in answers] == ["info"] * 3, answers
    assert len(token_endpoint.requests) == 1


# Characters RFC 6749's form-encoding changes: ':' (the Basic separator), space, '+',
# '%', '&', '/', '=' and non-ASCII.
TRICKY_SECRET = "s3:cr t+%2B&/=é"
TRICKY_CLIENT_ID = "client:7 ü"


@pytest.fixture
def basic_only_endpoint():
    """An authorization server that accepts client credentials only as HTTP Basic."""
    endpoint = TokenEndpoint(
        required={"client_id": TRICKY_CLIENT_ID, "client_secret": TRICKY_SECRET}
    )
    endpoint.basic_only = True
    server = ServerThread(endpoint).start()
    endpoint.url = f"{server.url}/oauth/token"
    yield endpoint
    server.stop()


def basic_settings(token_url: str, target_url: str, client_auth: str | None, **data) -> dict:
    auth = {
        "url": token_url,
        "data": {
            "client_id": "{secret.client_id}",
            "client_secret": "{secret.client_secret}",
            **data,
        },
    }
    if client_auth:
        auth["client_auth"] = client_auth
    return {**simple_settings(target_url), "auth": auth}


@pytest.mark.parametrize(
    "grant",
    [
        {"grant_type": "client_credentials", "scope": "invoice.create"},
        {"grant_type": "password", "username": "erp user", "password": "pa55 word"},
        {"grant_type": "urn:example:custom"},  # sent as given, credentials still as Basic
    ],
)
@pytest.mark.parametrize(
    "decode",
    [unquote_plus, unquote],
    ids=["rfc6749-form-decoding", "percent-decoding-only-as-authlib"],
)
def test_client_auth_basic_reaches_an_endpoint_that_accepts_only_basic(
    post_hook, payload_for, fake_rossum, basic_only_endpoint, target, caplog, grant, decode
):
    caplog.set_level(logging.DEBUG)
    basic_only_endpoint.basic_decode = decode
    target.accepted_tokens = {"token-1"}
    secrets = {"client_id": TRICKY_CLIENT_ID, "client_secret": TRICKY_SECRET}
    settings = basic_settings(basic_only_endpoint.url, f"{target.url}/in", "basic", **grant)

    _, answer = post_hook(payload_for(settings, secrets=secrets))

    assert [m["type"] for m in answer["messages"]] == ["info"], answer
    [token_request] = basic_only_endpoint.requests
    assert token_request.form == grant  # the credentials are not in the body
    credentials = base64.b64decode(token_request.headers["Authorization"].split(" ")[1])
    client_id, _, client_secret = credentials.decode().partition(":")
    assert (unquote_plus(client_id), unquote_plus(client_secret)) == (
        TRICKY_CLIENT_ID,
        TRICKY_SECRET,
    )
    assert client_secret == quote(TRICKY_SECRET, safe="")  # every reserved character encoded
    assert target.requests[0].headers["Authorization"] == "Bearer token-1"
    assert TRICKY_SECRET not in json.dumps(answer) + caplog.text


def test_credentials_in_the_body_are_refused_by_a_basic_only_endpoint(
    post_hook, payload_for, basic_only_endpoint, target
):
    secrets = {"client_id": TRICKY_CLIENT_ID, "client_secret": TRICKY_SECRET}
    settings = basic_settings(
        basic_only_endpoint.url, f"{target.url}/in", None, grant_type="client_credentials"
    )

    _, answer = post_hook(payload_for(settings, secrets=secrets))

    host = basic_only_endpoint.url.split("/")[2]
    assert answer["messages"] == [
        {
            "type": "error",
            "content": f"Export failed (token): the token endpoint {host} answered 401: "
            "invalid_client: The client cannot authenticate with methods: "
            "['client_secret_basic']",
        }
    ]
    assert target.requests == []
