"""The idempotency key leaves out what differs per delivery by nature (SPEC §5, §9)."""

import uuid

import pytest

from tests.builders import SECRETS, simple_settings
from tests.servers import ServerThread, TokenEndpoint


def redelivered(payload: dict, **changes) -> dict:
    """The same export delivered again: Rossum gives each delivery a new request id."""
    return {**payload, "request_id": str(uuid.uuid4()), **changes}


def set_document_id(payload: dict, value: str) -> None:
    payload["annotation"]["content"][0]["children"][0]["content"]["value"] = value


@pytest.mark.parametrize(
    "request_settings",
    [
        {"headers": {"Content-Type": "text/plain", "X-Request-Id": "#{request_id}"}},
        {"content": "#{request_id}\n#{file_content}"},
        {"url_suffix": "?delivery=#{request_id}"},
        {
            "headers": {"X-Request-Id": "#{request_id}"},
            "request_data": {"delivery": "#{request_id}", "id": "@{document_id}"},
            "content": None,
        },
    ],
    ids=["header", "body", "query", "form"],
)
def test_request_id_in_the_request_keeps_duplicate_protection(
    post_hook, payload_for, target, request_settings
):
    request_settings = dict(request_settings)
    url = f"{target.url}/in" + request_settings.pop("url_suffix", "")
    settings = simple_settings(url, **request_settings)
    settings["request"] = {k: v for k, v in settings["request"].items() if v is not None}
    payload = payload_for(settings)

    answers = [post_hook(redelivered(payload))[1] for _ in range(3)]

    assert len(target.requests) == 1
    assert [len(answer["messages"]) for answer in answers] == [1, 2, 2]
    assert answers[2]["messages"][1]["content"].startswith("Already exported at")


def test_the_key_still_changes_with_the_data_and_the_file(
    post_hook, payload_for, fake_rossum, target
):
    headers = {"X-Request-Id": "#{request_id}", "Idempotency-Key": "#{idempotency_key}"}
    payload = payload_for(
        simple_settings(
            f"{target.url}/in", headers=headers, content="@{document_id}\n#{file_content}"
        )
    )

    post_hook(redelivered(payload))
    post_hook(redelivered(payload))
    set_document_id(payload, "INV-2024-0043")
    post_hook(redelivered(payload))
    fake_rossum.documents[900001]["content_bytes"] = b"changed,file\n"
    post_hook(redelivered(payload))
    post_hook(redelivered(payload))

    keys = [r.headers["Idempotency-Key"] for r in target.requests]
    assert len(keys) == 3 and len(set(keys)) == 3
    request_ids = [r.headers["X-Request-Id"] for r in target.requests]
    assert len(set(request_ids)) == 3  # each sent with its own delivery's request id


def test_a_renewed_stored_token_keeps_duplicate_protection(post_hook, payload_for, target):
    settings = simple_settings(
        f"{target.url}/in",
        headers={"Authorization": "Bearer {secret.access_token}", "Content-Type": "text/plain"},
    )
    payload = payload_for(settings)

    for token in ("stored-token-1", "stored-token-2"):
        post_hook(redelivered(payload, secrets={**SECRETS, "access_token": token}))

    assert [r.headers["Authorization"] for r in target.requests] == ["Bearer stored-token-1"]


def test_a_new_access_token_keeps_duplicate_protection(post_hook, payload_for, target):
    """The token endpoint issues a new token for each delivery (none is stored or fresh)."""
    endpoint = TokenEndpoint(required={"grant_type": "client_credentials"}, expires_in=1)
    server = ServerThread(endpoint).start()
    settings = {
        **simple_settings(f"{target.url}/in"),
        "auth": {"url": f"{server.url}/token", "data": {"grant_type": "client_credentials"}},
    }
    try:
        for _ in range(2):  # expires_in=1: renewed at once (a minute before expiry)
            post_hook(redelivered(payload_for(settings, secrets=SECRETS)))
    finally:
        server.stop()

    assert endpoint.issued == ["token-1", "token-2"]
    assert [r.headers["Authorization"] for r in target.requests] == ["Bearer token-1"]
