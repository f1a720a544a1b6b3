"""Raw-body exports end to end: the app under a real server, a fake Rossum, a real target."""

from tests.builders import ANNOTATION_ID, simple_settings
from tests.conftest import CSV, EXPORT_KEY, PDF


def test_simple_rest_api_call_sends_the_export_file_unchanged(
    post_hook, payload_for, fake_rossum, target
):
    status, answer = post_hook(payload_for(simple_settings(f"{target.url}/api/invoices")))

    assert status == 200
    assert answer == {
        "messages": [
            {"type": "info", "content": f"Exported: POST {target.url[7:]} answered 200 OK"}
        ],
        "operations": [],
    }
    [received] = target.requests
    assert received.method == "POST"
    assert received.path == "/api/invoices"
    assert received.headers["Content-Type"] == "text/plain"
    assert received.body == CSV
    relation_lookup = fake_rossum.calls_to("/api/v1/document_relations")[0]
    assert relation_lookup.args == {
        "type": "export",
        "annotation": str(ANNOTATION_ID),
        "key": EXPORT_KEY,
    }


def test_original_file_carries_every_byte_value_intact(post_hook, payload_for, target):
    settings = {
        "request": {
            "url": f"{target.url}/upload",
            "headers": {"Content-Type": "application/pdf"},
            "content": "#{original_file}",
        }
    }

    status, answer = post_hook(payload_for(settings))

    assert status == 200, answer
    assert answer["messages"][0]["type"] == "info"
    assert target.requests[0].body == PDF
    assert bytes(range(256)) in target.requests[0].body
