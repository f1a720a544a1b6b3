"""Large files stream from Rossum to the target: identical bytes, fetched once, resendable."""

import hashlib
import os

import pytest

from tests.builders import ANNOTATION_ID
from tests.servers import ServerThread, TokenEndpoint

BIG = os.urandom(5 * 1024 * 1024 + 17)  # past the 1 MiB in-memory spool


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def big_export(fake_rossum):
    fake_rossum.add_export_document(ANNOTATION_ID, "big", BIG, "application/pdf", "big.pdf")


@pytest.fixture
def token_endpoint():
    endpoint = TokenEndpoint(required={"grant_type": "client_credentials"})
    server = ServerThread(endpoint).start()
    endpoint.url = f"{server.url}/token"
    yield endpoint
    server.stop()


def settings(target, **request) -> dict:
    return {"export_reference_key": "big", "request": {"url": f"{target.url}/in", **request}}


@pytest.mark.parametrize("mode", ["wait", "retry"])
def test_a_large_raw_body_arrives_identical(post_hook, payload_for, big_export, target, mode):
    _, answer = post_hook(
        payload_for({**settings(target, content="#{file_content}"), "mode": mode})
    )

    assert answer["messages"][0]["type"] == "info", answer
    assert digest(target.requests[0].body) == digest(BIG)
    assert target.requests[0].headers["Content-Length"] == str(len(BIG))


@pytest.mark.parametrize("mode", ["wait", "retry"])
def test_a_large_multipart_file_part_arrives_identical(
    post_hook, payload_for, big_export, target, mode
):
    _, answer = post_hook(
        payload_for(
            {**settings(target, file_key="pdf", request_data={"n": "@{document_id}"}), "mode": mode}
        )
    )

    assert answer["messages"][0]["type"] == "info", answer
    [received] = target.requests
    name, content_type, content = received.files["pdf"]
    assert (name, content_type, digest(content)) == ("big.pdf", "application/pdf", digest(BIG))
    assert received.form == {"n": "INV-2024-0042"}


@pytest.mark.parametrize("body", [{"content": "#{file_content}"}, {"file_key": "pdf"}])
def test_a_resend_after_a_401_sends_the_whole_file_again(
    post_hook, payload_for, big_export, target, token_endpoint, body
):
    target.accepted_tokens = {"token-1"}  # the stored token is refused once
    export = {
        **settings(target, **body),
        "auth": {"url": token_endpoint.url, "data": {"grant_type": "client_credentials"}},
    }
    secrets = {"access_token": "stale", "access_token_expires_at": "2999-01-01T00:00:00Z"}

    _, answer = post_hook(payload_for(export, secrets=secrets))

    assert answer["messages"][0]["type"] == "info", answer
    assert len(target.requests) == 2
    for received in target.requests:
        content = received.body if "content" in body else received.files["pdf"][2]
        assert digest(content) == digest(BIG)


def test_one_content_request_even_when_two_placeholders_use_the_file(
    post_hook, payload_for, fake_rossum, target
):
    export = {
        "export_reference_key": "export_annotation_to_csv",
        "request": {
            "url": f"{target.url}/in",
            "file_key": "csv",
            "request_data": {"copy": "#{file_content}"},
        },
    }

    _, answer = post_hook(payload_for(export))

    assert answer["messages"][0]["type"] == "info", answer
    content_calls = [c for c in fake_rossum.calls if c.path.endswith("/content")]
    assert len(content_calls) == 1
    assert len(fake_rossum.calls_to("/api/v1/document_relations")) == 1
    assert target.requests[0].form["copy"] == target.requests[0].files["csv"][2].decode()


@pytest.mark.parametrize("body", [{"content": "#{file_content}"}, {"file_key": "pdf"}])
def test_a_retry_resends_the_whole_file(post_hook, payload_for, big_export, target, body):
    target.reply_with(503, b"busy")

    _, answer = post_hook(payload_for({**settings(target, **body), "mode": "retry"}))

    assert answer["messages"][0]["content"].endswith("after 2 attempts"), answer
    assert len(target.requests) == 2
    for received in target.requests:
        content = received.body if "content" in body else received.files["pdf"][2]
        assert digest(content) == digest(BIG)
