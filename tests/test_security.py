"""Security (SPEC §7): signed calls, allowed Rossum hosts, public targets only, size limit."""

import hashlib
import hmac
import json

import pytest
import requests
import requests_hardened.ip_filter_adapter as ip_filter_adapter

from app.security import rossum_host_allowed
from tests.builders import simple_settings
from tests.servers import ServerThread, Target

HOOK_SECRET = "hook-s3cret"


def sign(body: bytes, algorithm=hashlib.sha256, secret=HOOK_SECRET) -> str:
    return hmac.new(secret.encode(), body, algorithm).hexdigest()


@pytest.fixture
def signed_client(make_app):
    return make_app(HOOK_SECRET=HOOK_SECRET).test_client()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"X-Rossum-Signature-SHA256": "not-a-signature"}, 401),
        ({"X-Rossum-Signature-SHA256": "sha256=" + "0" * 64}, 401),
        ({"X-Rossum-Signature-SHA256": "sha1={sha1}"}, 401),  # wrong algorithm name
        ({"X-Rossum-Signature-SHA256": "sha256={sha256}"}, 200),
        ({"X-Rossum-Signature-SHA256": "sha256={sha256_upper}"}, 200),
        ({"X-Elis-Signature": "sha1={sha1}"}, 200),
        ({"X-Elis-Signature": "sha1={sha256}"}, 401),
    ],
)
def test_signatures(signed_client, payload_for, fake_rossum, target, headers, status):
    body = json.dumps(payload_for(simple_settings(f"{target.url}/x"))).encode()
    values = {
        "sha256": sign(body),
        "sha256_upper": sign(body).upper(),
        "sha1": sign(body, hashlib.sha1),
    }
    headers = {name: value.format(**values) for name, value in headers.items()}

    response = signed_client.post(
        "/", data=body, headers={**headers, "Content-Type": "application/json"}
    )

    assert response.status_code == status
    if status == 401:
        assert response.json["messages"][0]["type"] == "error"
        assert fake_rossum.calls == [] and target.requests == []
    else:
        assert len(target.requests) == 1


def test_a_body_changed_after_signing_is_refused(signed_client, payload_for, target):
    body = json.dumps(payload_for(simple_settings(f"{target.url}/x"))).encode()
    signature = sign(body)
    tampered = body.replace(b"/x", b"/y")

    response = signed_client.post(
        "/",
        data=tampered,
        headers={
            "X-Rossum-Signature-SHA256": f"sha256={signature}",
            "Content-Type": "application/json",
        },
    )

    assert response.status_code == 401
    assert target.requests == []


def test_the_signature_is_checked_before_the_body_is_parsed(signed_client):
    response = signed_client.post("/", data=b"not json")

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("base_url", "allowed"),
    [
        ("https://example.rossum.app", True),
        ("https://elis.rossum.ai", True),
        ("https://EXAMPLE.Rossum.App/", True),
        ("https://a.b.rossum.app", True),
        ("http://example.rossum.app", False),  # plain http needs an explicit pattern
        ("https://rossum.app.evil.com", False),
        ("https://evilrossum.app", False),
        ("https://x.rossum.app@evil.com", False),
        ("https://evil.com?x=.rossum.app", False),
        ("https://evil.com#.rossum.app", False),
        ("https://example.rossum.app:8443", True),
        ("http://127.0.0.1:8001", True),  # the explicit http pattern
        ("http://127.0.0.1:8002", False),
        ("https://127.0.0.1:8001", False),
        ("not a url", False),
        ("", False),
    ],
)
def test_allowed_rossum_hosts(base_url, allowed):
    patterns = "*.rossum.app,*.rossum.ai,http://127.0.0.1:8001"

    assert rossum_host_allowed(base_url, patterns) is allowed


@pytest.mark.parametrize(
    "change",
    [
        lambda p, evil: p.update(base_url="https://rossum.app.evil.com"),
        lambda p, evil: p.update(base_url="https://x.rossum.app@evil.com"),
        lambda p, evil: p.update(hook=f"{evil}/api/v1/hooks/781"),
        lambda p, evil: p["document"].update(content=f"{evil}/api/v1/documents/1/content"),
        lambda p, evil: p["annotation"].update(url=f"{evil}/api/v1/annotations/1"),
    ],
)
def test_disallowed_rossum_urls_are_403_and_nothing_is_called(
    client, payload_for, fake_rossum, target, change
):
    evil = Target()
    server = ServerThread(evil).start()
    try:
        payload = payload_for(simple_settings(f"{target.url}/x"))
        change(payload, server.url)
        response = client.post("/", json=payload)
    finally:
        server.stop()

    assert response.status_code == 403
    assert response.json["messages"][0]["type"] == "error"
    assert fake_rossum.calls == [] and evil.requests == [] and target.requests == []


def test_rossum_urls_from_api_answers_must_stay_on_the_rossum_host(
    post_hook, payload_for, fake_rossum, target
):
    fake_rossum.relations[0]["documents"] = ["http://10.0.0.1/api/v1/documents/1"]

    _, answer = post_hook(payload_for(simple_settings(f"{target.url}/x")))

    assert "10.0.0.1 is not the Rossum host" in answer["messages"][0]["content"]
    assert target.requests == []


@pytest.fixture
def guarded_client(make_app):
    """An app that refuses non-public targets, as in production."""
    return make_app(ALLOW_PRIVATE_TARGETS=False).test_client()


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("10.0.0.1", "10.0.0.1"),
        ("169.254.169.254", "169.254.169.254"),
        ("192.168.1.20", "192.168.1.20"),
        ("[::ffff:127.0.0.1]", "127.0.0.1"),
        ("[fd00::1]", "fd00::1"),
        ("localhost", "127.0.0.1"),
    ],
)
def test_private_targets_are_refused(guarded_client, payload_for, target, host, address):
    port = target.url.rsplit(":", 1)[1]
    settings = simple_settings(f"http://{host}:{port}/x")

    answer = guarded_client.post("/", json=payload_for(settings)).json

    [message] = answer["messages"]
    assert message["type"] == "error"
    assert "is not a public address" in message["content"]
    assert address in message["content"] or host in message["content"]
    assert target.requests == []


def test_a_redirect_to_a_private_address_is_refused(guarded_client, payload_for, monkeypatch):
    """A public host (simulated: its name is made to pass the check) whose name resolves
    to a private address by the time its same-origin redirect is followed."""
    redirector = Target()
    server = ServerThread(redirector).start()
    port = server.url.rsplit(":", 1)[1]
    redirector.reply_with(307, headers={"Location": f"http://public.example.test:{port}/internal"})
    real_filter_host = ip_filter_adapter.filter_host
    lookups = []

    def filter_host(hostname, port, *, allow_loopback):
        if hostname == "public.example.test":
            lookups.append(hostname)
            if len(lookups) == 1:
                return "127.0.0.1"  # stands in for a public server
            hostname = "127.0.0.1"  # the second look-up: rebound to a private address
        return real_filter_host(hostname, port, allow_loopback=allow_loopback)

    monkeypatch.setattr(ip_filter_adapter, "filter_host", filter_host)
    try:
        settings = simple_settings(f"http://public.example.test:{port}/start")
        answer = guarded_client.post("/", json=payload_for(settings)).json
    finally:
        server.stop()

    assert [r.path for r in redirector.requests] == ["/start"]  # the redirect was not followed
    assert "127.0.0.1, which is not a public address" in answer["messages"][0]["content"]


def test_token_requests_to_private_addresses_are_refused(guarded_client, payload_for, target):
    settings = {
        **simple_settings("https://erp.example.com/x"),
        "auth": {"url": f"{target.url}/token", "data": {"grant_type": "client_credentials"}},
    }

    answer = guarded_client.post("/", json=payload_for(settings)).json

    assert answer["messages"][0]["content"].startswith(
        "Export failed (token): the token request to 127.0.0.1"
    )
    assert "not a public address" in answer["messages"][0]["content"]
    assert target.requests == []


def test_payloads_over_the_limit_get_413(make_app, payload_for):
    client = make_app(MAX_PAYLOAD_BYTES=2000).test_client()

    response = client.post("/", json=payload_for({"request": {"url": "https://x.example"}}))

    assert response.status_code == 413
    assert response.json == {
        "messages": [
            {
                "type": "error",
                "content": "The hook payload is larger than MAX_PAYLOAD_BYTES (2000 bytes)",
            }
        ],
        "operations": [],
    }


def test_chunked_payloads_over_the_limit_get_413(make_app):
    app = make_app(MAX_PAYLOAD_BYTES=2000)
    server = ServerThread(app).start()
    try:
        chunks = (b"x" * 1000 for _ in range(10))  # a generator body is sent chunked
        response = requests.post(server.url, data=chunks, timeout=10)
    finally:
        server.stop()

    assert response.status_code == 413


def test_a_payload_of_exactly_the_limit_is_accepted(make_app, payload_for, target):
    body = json.dumps(payload_for(simple_settings(f"{target.url}/x"))).encode()
    client = make_app(MAX_PAYLOAD_BYTES=len(body)).test_client()

    response = client.post("/", data=body, content_type="application/json")

    assert response.status_code == 200
    assert len(target.requests) == 1
