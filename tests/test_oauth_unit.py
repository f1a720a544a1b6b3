"""TokenEndpoint with ``responses``: each grant's request, each failure's message."""

import json
from urllib.parse import parse_qsl

import pytest
import requests
import responses
from responses import matchers

from app.errors import AuthError
from app.oauth import ClientBasicAuth, TokenEndpoint, TokenRequest
from app.pipeline.sessions import ProxyEnvironment
from app.redaction import Redactor
from app.tokens import parse_expiry, stored_token

URL = "https://login.example.com/oauth/token"


def fetch(data, method="POST", headers=None, token_path=None, redactor=None):
    endpoint = TokenEndpoint(2, 5, redactor or Redactor(), ProxyEnvironment())
    return endpoint.fetch(TokenRequest(URL, method, headers or {}, data, token_path))


def sent_fields(call) -> dict:
    return dict(parse_qsl(call.request.body))


@responses.activate
def test_client_credentials_keep_every_field_in_the_body():
    responses.post(URL, json={"access_token": "t", "token_type": "Bearer", "expires_in": 60})
    data = {
        "grant_type": "client_credentials",
        "client_id": "c",
        "client_secret": "s",
        "scope": "a b",
        "audience": "",
    }

    token = fetch(data)

    assert token.value == "t" and token.expires_at is not None
    assert sent_fields(responses.calls[0]) == {k: v for k, v in data.items() if v}
    assert "audience=" in responses.calls[0].request.body  # empty fields are sent too
    assert "Authorization" not in responses.calls[0].request.headers


@responses.activate
def test_username_and_password_without_grant_type_use_the_password_grant():
    responses.post(URL, json={"access_token": "t"})

    fetch({"username": "u", "password": "p"})

    assert sent_fields(responses.calls[0]) == {
        "grant_type": "password",
        "username": "u",
        "password": "p",
    }


@responses.activate
def test_another_grant_type_is_sent_as_given():
    responses.post(
        URL,
        json={"access_token": "t"},
        match=[matchers.urlencoded_params_matcher({"grant_type": "urn:x", "k": "v"})],
    )

    assert fetch({"grant_type": "urn:x", "k": "v"}).value == "t"


@responses.activate
def test_json_content_type_sends_a_json_body():
    responses.post(
        URL,
        json={"access_token": "t"},
        match=[
            matchers.json_params_matcher({"grant_type": "client_credentials", "client_id": "c"})
        ],
    )

    fetch(
        {"grant_type": "client_credentials", "client_id": "c"},
        headers={"Content-Type": "application/json"},
    )


@responses.activate
def test_get_sends_the_fields_in_the_query():
    responses.get(
        URL,
        json={"access_token": "t"},
        match=[
            matchers.query_param_matcher({"grant_type": "client_credentials", "client_id": "c"})
        ],
    )

    fetch({"grant_type": "client_credentials", "client_id": "c"}, method="GET")


@responses.activate
def test_plain_http_token_urls_are_allowed_only_for_that_fetch():
    http_url = "http://127.0.0.1:9/token"
    responses.post(http_url, json={"access_token": "t"})
    endpoint = TokenEndpoint(2, 5, Redactor(), ProxyEnvironment())

    token = endpoint.fetch(
        TokenRequest(http_url, "POST", {}, {"grant_type": "client_credentials"}, None)
    )

    assert token.value == "t"
    from oauthlib.oauth2 import is_secure_transport
    from requests_oauthlib import oauth2_session

    assert not oauth2_session.is_secure_transport(http_url)  # outside the fetch: refused
    assert not is_secure_transport(http_url)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            dict(
                status=400, json={"error": "invalid_scope", "error_description": "no scope s3cr3t"}
            ),
            "the token endpoint login.example.com answered 400: invalid_scope: no scope ********",
        ),
        (
            dict(status=500, body="<html>down</html>"),
            "the token endpoint login.example.com answered 500: <html>down</html>",
        ),
        (
            dict(status=200, body="not json"),
            "the token endpoint login.example.com answered 200 without a JSON body",
        ),
        (
            dict(status=200, json={"token": "x"}),
            "the token endpoint login.example.com answered without access_token",
        ),
        (
            dict(body=requests.ConnectionError(ConnectionRefusedError())),
            "the token request to login.example.com failed: connection refused",
        ),
        (
            dict(body=requests.ReadTimeout()),
            "the token request to login.example.com failed: no answer in time",
        ),
    ],
)
@responses.activate
def test_failures_name_the_endpoint_and_never_the_credentials(reply, message):
    responses.post(URL, **reply)

    with pytest.raises(AuthError) as raised:
        fetch({"grant_type": "client_credentials", "client_id": "c", "client_secret": "s3cr3t"})

    assert str(raised.value) == message


@responses.activate
def test_token_path_reads_a_token_from_another_shape():
    responses.post(URL, json={"data": {"token": "deep"}, "expires_in": "120"})

    token = fetch({"user": "u"}, token_path="data.token")

    assert token.value == "deep" and token.expires_at is not None


@responses.activate
def test_token_path_that_finds_nothing_is_named():
    responses.post(URL, json={"data": {}})

    with pytest.raises(AuthError, match="answered without at 'data.token'"):
        fetch({"user": "u"}, token_path="data.token")


def test_fetched_tokens_and_credentials_join_the_redactor():
    redactor = Redactor()
    with responses.RequestsMock() as mock:
        mock.post(URL, json={"access_token": "fresh-token"})
        fetch(
            {"grant_type": "client_credentials", "client_secret": "cred-value"}, redactor=redactor
        )

    assert redactor.text("fresh-token cred-value") == "******** ********"


def test_stored_tokens_and_expiry_parsing():
    assert stored_token({}, "access_token") is None
    assert stored_token({"access_token": "t"}, "access_token").expires_at is None
    assert parse_expiry("2030-01-01T00:00:00Z").year == 2030
    assert parse_expiry("garbage").year == 1970
    assert json.dumps(parse_expiry("2030-01-01T00:00:00").isoformat()).endswith('+00:00"')


@responses.activate
def test_a_token_endpoint_echoing_the_basic_credentials_gets_them_masked():
    secret = "s3cr3t value/+"
    credentials = ClientBasicAuth("my-client", secret).header_value()
    responses.post(
        URL, status=401, json={"error": "invalid_client", "error_description": credentials}
    )
    request = TokenRequest(
        URL,
        "POST",
        {},
        {"grant_type": "client_credentials", "client_id": "my-client", "client_secret": secret},
        None,
        "basic",
    )

    with pytest.raises(AuthError) as raised:
        TokenEndpoint(2, 5, Redactor(), ProxyEnvironment()).fetch(request)

    assert (
        str(raised.value)
        == "the token endpoint login.example.com answered 401: invalid_client: Basic ********"
    )
    assert sent_fields(responses.calls[0]) == {"grant_type": "client_credentials"}
    assert secret not in repr(ClientBasicAuth("my-client", secret))
