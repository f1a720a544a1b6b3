"""The payload's quick check gives exactly what the schema gives, or leaves it to the schema."""

import copy

import pytest

from app.errors import PayloadError
from app.payload import parse_payload, schema_checked_payload, well_formed_payload
from tests.builders import build_payload

ABSENT = object()
# A field set to each JSON type (and removed); "x" and "https://x" as the strings.
JSON_VALUES = [ABSENT, None, 0, 7, True, 1.5, "", "x", "https://x", [], [1], {}, {"a": 1}]
FIELDS = [
    ("event",),
    ("action",),
    ("request_id",),
    ("base_url",),
    ("rossum_authorization_token",),
    ("hook",),
    ("settings",),
    ("secrets",),
    ("secrets", "api_key"),
    ("annotation",),
    ("annotation", "id"),
    ("annotation", "url"),
    ("annotation", "content"),
    ("annotation", "metadata"),
    ("document",),
    ("document", "url"),
    ("document", "content"),
    ("document", "mime_type"),
    ("document", "original_file_name"),
]


def payloads():
    settings = {"request": {"url": "https://erp.example.com"}}
    for event in ("annotation_content", "annotation_status"):
        yield build_payload(settings, event=event, secrets={"api_key": "k-123456"})
        without_document = build_payload(settings, event=event)
        del without_document["document"]
        yield without_document


def with_field(payload: dict, path: tuple, value) -> dict | None:
    changed = copy.deepcopy(payload)
    parent = changed
    for key in path[:-1]:
        parent = parent.get(key)
        if not isinstance(parent, dict):
            return None
    if value is ABSENT:
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = copy.deepcopy(value)
    return changed


def schema_result(payload: dict):
    try:
        return schema_checked_payload(payload)
    except PayloadError as error:
        return error


@pytest.mark.parametrize("payload", list(payloads()), ids=lambda p: p["event"])
def test_every_payload_rossum_sends_takes_the_quick_check(payload):
    assert well_formed_payload(payload) is not None
    assert parse_payload(payload) == schema_checked_payload(payload)


@pytest.mark.parametrize("path", FIELDS, ids=".".join)
def test_the_quick_check_accepts_only_what_the_schema_accepts_and_loads_it_alike(path):
    for payload in payloads():
        for value in JSON_VALUES:
            changed = with_field(payload, path, value)
            if changed is None:
                continue
            expected = schema_result(changed)
            quick = well_formed_payload(changed)
            if quick is not None:
                assert not isinstance(expected, PayloadError), (path, value, expected.problems)
                assert quick == expected, (path, value)
            if isinstance(expected, PayloadError):
                with pytest.raises(PayloadError) as raised:
                    parse_payload(changed)
                assert raised.value.problems == expected.problems
