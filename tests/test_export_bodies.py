"""Multipart and form-urlencoded exports, as a receiving framework parses them (SPEC §4)."""

import json

from tests.builders import ANNOTATION_ID, FIXTURES
from tests.conftest import CSV, PDF

SEED = json.loads((FIXTURES / "seed_examples.json").read_text())
VENDOR = "East West Trading Co & Sons"


def seed_multipart(target_url: str) -> dict:
    settings = json.loads(json.dumps(SEED["Sending multipart/form-data"]))
    settings["request"]["url"] = f"{target_url}/upload"
    return settings


def test_seed_multipart_example_sends_the_file_part_and_the_fields(
    post_hook, payload_for, fake_rossum, target
):
    fake_rossum.add_export_document(
        ANNOTATION_ID, "exported_annotation_csv", CSV, "text/csv", "export.csv"
    )
    payload = payload_for(seed_multipart(target.url), secrets={"token": "erp-token"})

    status, answer = post_hook(payload)

    assert answer["messages"][0]["type"] == "info", answer
    [received] = target.requests
    assert received.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert received.headers["Authorization"] == "Bearer erp-token"
    assert received.files == {"file": ("INV-2024-0042.json", "text/csv", CSV)}
    assert received.form == {"other_field": VENDOR}


def test_binary_original_file_part_keeps_name_type_and_every_byte(post_hook, payload_for, target):
    settings = {
        "request": {
            "url": f"{target.url}/upload",
            "file_key": "document",
            "file_content": "#{original_file}",
        }
    }

    post_hook(payload_for(settings))

    [received] = target.requests
    assert received.files == {"document": ("invoice 0042.pdf", "application/pdf", PDF)}


def test_file_part_defaults_to_the_original_file_without_export_reference_key(
    post_hook, payload_for, target
):
    post_hook(payload_for({"request": {"url": f"{target.url}/u", "file_key": "f"}}))

    assert target.requests[0].files["f"][2] == PDF


def test_file_part_defaults_to_the_export_file_with_export_reference_key(
    post_hook, payload_for, target
):
    settings = {
        "export_reference_key": "export_annotation_to_csv",
        "request": {"url": f"{target.url}/u", "file_key": "f"},
    }

    post_hook(payload_for(settings))

    assert target.requests[0].files["f"] == ("export.csv", "text/csv", CSV)


def test_file_name_with_spaces_and_non_ascii_characters(post_hook, payload_for, target):
    settings = {
        "request": {
            "url": f"{target.url}/u",
            "file_key": "f",
            "file_name": "faktura č. @{document_id} – Příloha.pdf",
        }
    }

    post_hook(payload_for(settings))

    assert target.requests[0].files["f"][0] == "faktura č. INV-2024-0042 – Příloha.pdf"


def test_a_user_multipart_content_type_with_a_fixed_boundary_is_replaced(
    post_hook, payload_for, target
):
    settings = {
        "request": {
            "url": f"{target.url}/u",
            "headers": {"content-type": "multipart/form-data; boundary=----123", "X-Kept": "1"},
            "file_key": "f",
            "request_data": {"vendor": "@{vendor}"},
        }
    }

    status, answer = post_hook(payload_for(settings))

    assert answer["messages"][0]["type"] == "info", answer
    [received] = target.requests
    assert "boundary=----123" not in received.headers["Content-Type"]
    assert received.headers["X-Kept"] == "1"
    assert received.form == {"vendor": VENDOR}
    assert received.files["f"][2] == PDF


def test_object_data_with_a_multipart_content_type_sends_text_parts_only(
    post_hook, payload_for, fake_rossum, target
):
    settings = {
        "request": {
            "url": f"{target.url}/u",
            "headers": {"Content-Type": "multipart/form-data; boundary=----123"},
            "data": {"invoice": "@{document_id}", "note": "a & b = c"},
        }
    }

    status, answer = post_hook(payload_for(settings))

    assert answer["messages"][0]["type"] == "info", answer
    [received] = target.requests
    assert received.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert received.form == {"invoice": "INV-2024-0042", "note": "a & b = c"}
    assert received.files == {}
    assert fake_rossum.fetches() == []  # no file part: nothing fetched


def test_form_fields_are_url_encoded_as_utf8(post_hook, payload_for, fake_rossum, target):
    fields = {
        "vendor": "@{vendor}",
        "expr": "a=b&c+d e",
        "name": "Žluťoučký kůň 😀",
        "id": "#{annotation_id}",
    }
    settings = {"request": {"url": f"{target.url}/form", "request_data": fields}}

    status, answer = post_hook(payload_for(settings))

    assert answer["messages"][0]["type"] == "info", answer
    [received] = target.requests
    assert received.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert received.form == {
        "vendor": VENDOR,
        "expr": "a=b&c+d e",
        "name": "Žluťoučký kůň 😀",
        "id": str(ANNOTATION_ID),
    }
    assert fake_rossum.fetches() == []


def test_form_from_an_object_data_keeps_a_user_content_type(post_hook, payload_for, target):
    settings = {
        "request": {
            "url": f"{target.url}/form",
            "headers": {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            "data": {"q": "ü"},
        }
    }

    post_hook(payload_for(settings))

    [received] = target.requests
    assert received.headers["Content-Type"] == "application/x-www-form-urlencoded; charset=utf-8"
    assert received.body == b"q=%C3%BC"


def test_form_field_with_a_missing_datapoint_fails_naming_the_field(post_hook, payload_for, target):
    settings = {"request": {"url": f"{target.url}/f", "request_data": {"a": "@{nothing}"}}}

    status, answer = post_hook(payload_for(settings))

    assert answer["messages"] == [
        {
            "type": "error",
            "content": "Export failed (template): request.request_data.a: datapoint 'nothing' "
            "(@{nothing}) is not in the annotation",
        }
    ]
    assert target.requests == []
