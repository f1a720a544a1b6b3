"""Redirects are followed only within the request's origin (SPEC §7)."""

import json

import pytest

from tests.builders import SECRETS, simple_settings
from tests.servers import ServerThread, Target

API_KEY = "api-key-0f9e8d7c"


@pytest.fixture
def elsewhere():
    """Another origin that a redirect points to: it must never be reached."""
    recorder = Target()
    server = ServerThread(recorder).start()
    recorder.url = server.url
    yield recorder
    server.stop()


def host_of(url: str) -> str:
    return url.removeprefix("http://")


def exporting(url: str) -> dict:
    return simple_settings(url, headers={"Content-Type": "text/plain", "X-Api-Key": API_KEY})


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_an_export_redirected_to_another_origin_sends_nothing_there(
    post_hook, payload_for, target, elsewhere, status
):
    target.reply_with(status, headers={"Location": f"{elsewhere.url}/collect"})

    _, answer = post_hook(payload_for(exporting(f"{target.url}/in")))

    assert elsewhere.requests == []
    assert len(target.requests) == 1
    [message] = answer["messages"]
    assert message["type"] == "error"
    assert (
        f"redirected from {host_of(target.url)} to {host_of(elsewhere.url)}, another origin"
        in message["content"]
    )


def test_another_port_or_scheme_is_another_origin(post_hook, payload_for, target, elsewhere):
    other_port = elsewhere.url  # same host 127.0.0.1, another port
    target.reply_with(307, headers={"Location": f"{other_port}/in"})
    target.reply_with(307, headers={"Location": target.url.replace("http://", "https://")})

    _, first = post_hook(payload_for(exporting(f"{target.url}/in")))
    _, second = post_hook(payload_for({**exporting(f"{target.url}/in"), "deduplicate": False}))

    assert "another origin" in first["messages"][0]["content"]
    assert "another origin" in second["messages"][0]["content"]
    assert elsewhere.requests == []


def test_a_redirect_within_the_origin_is_followed_with_headers_and_body(
    post_hook, payload_for, target
):
    target.reply_with(307, headers={"Location": "/moved"})
    target.reply_with(308, headers={"Location": f"{target.url}/final"})

    _, answer = post_hook(payload_for(exporting(f"{target.url}/in")))

    assert [r.path for r in target.requests] == ["/in", "/moved", "/final"]
    final = target.requests[-1]
    assert final.headers["X-Api-Key"] == API_KEY
    assert final.body == b"document_id,amount_total\nINV-2024-0042,1234.50\n"
    assert answer["messages"][0]["type"] == "info"
    assert f"{host_of(target.url)} answered 200" in answer["messages"][0]["content"]


def test_more_than_five_redirects_fail_the_export(post_hook, payload_for, target):
    for hop in range(6):
        target.reply_with(307, headers={"Location": f"/hop{hop}"})

    _, answer = post_hook(payload_for(exporting(f"{target.url}/in")))

    assert len(target.requests) == 6  # the first and five redirects
    assert "more than 5 redirects" in answer["messages"][0]["content"]


def token_auth(url: str) -> dict:
    return {
        "url": url,
        "data": {
            "grant_type": "client_credentials",
            "client_id": "{secret.client_id}",
            "client_secret": "{secret.client_secret}",
        },
    }


def test_a_token_request_redirected_to_another_origin_sends_nothing_there(
    post_hook, payload_for, target, elsewhere
):
    token_endpoint = Target()
    token_endpoint.reply_with(307, headers={"Location": f"{elsewhere.url}/token"})
    server = ServerThread(token_endpoint).start()
    settings = {**simple_settings(f"{target.url}/in"), "auth": token_auth(f"{server.url}/token")}
    try:
        _, answer = post_hook(payload_for(settings, secrets=SECRETS))
    finally:
        server.stop()

    assert elsewhere.requests == []
    assert target.requests == []
    [message] = answer["messages"]
    assert message["content"].startswith("Export failed (token)")
    assert (
        f"redirected from {host_of(server.url)} to {host_of(elsewhere.url)}" in message["content"]
    )


def test_a_token_request_redirected_within_the_origin_gets_its_token(
    post_hook, payload_for, target
):
    token_endpoint = Target()
    token_endpoint.reply_with(307, headers={"Location": "/v2/token"})
    token_endpoint.reply_with(
        200,
        json.dumps({"access_token": "moved-token-1", "token_type": "Bearer"}).encode(),
        {"Content-Type": "application/json"},
    )
    server = ServerThread(token_endpoint).start()
    settings = {**simple_settings(f"{target.url}/in"), "auth": token_auth(f"{server.url}/token")}
    try:
        _, answer = post_hook(payload_for(settings, secrets=SECRETS))
    finally:
        server.stop()

    assert [r.path for r in token_endpoint.requests] == ["/token", "/v2/token"]
    assert token_endpoint.requests[1].form["client_secret"] == SECRETS["client_secret"]
    assert target.requests[0].headers["Authorization"] == "Bearer moved-token-1"
    assert answer["messages"][0]["type"] == "info"
