"""Exporter selection and the bodies each exporter builds (unit tests with ``responses``)."""

import pytest
import responses
from responses import matchers

from app.config import Config
from app.payload import parse_payload
from app.pipeline import exporter_class_for, run_hook
from app.pipeline.runtime import Runtime
from app.redaction import Redactor
from app.settings import load_settings
from tests.builders import ANNOTATION_ID, FIXTURE_BASE_URL, build_payload
from tests.conftest import CSV, PDF, TEST_CONFIG

TARGET = "https://erp.example.com/api"
VENDOR = "East West Trading Co & Sons"


@pytest.mark.parametrize(
    ("request_settings", "exporter"),
    [
        ({"content": "#{file_content}"}, "RawBodyExporter"),
        ({"data": "@{document_id}"}, "RawBodyExporter"),
        ({}, "RawBodyExporter"),
        ({"file_key": "file"}, "MultipartExporter"),
        ({"file_key": "file", "request_data": {"a": "b"}}, "MultipartExporter"),
        (
            {"headers": {"Content-Type": "Multipart/Form-Data"}, "request_data": {"a": "b"}},
            "MultipartExporter",
        ),
        ({"request_data": {"a": "b"}}, "FormUrlencodedExporter"),
        ({"data": {"a": "b"}}, "FormUrlencodedExporter"),
        (
            {"headers": {"Content-Type": "application/json"}, "request_data": {"a": "b"}},
            "FormUrlencodedExporter",
        ),
    ],
)
def test_the_request_settings_choose_the_exporter(request_settings, exporter):
    [export] = load_settings({"request": {"url": TARGET, **request_settings}})

    assert exporter_class_for(export.request).__name__ == exporter


@pytest.fixture
def rossum_api():
    """The fixture annotation's files, served by ``responses`` at the fixture's base URL."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        api = f"{FIXTURE_BASE_URL}/api/v1"
        mock.get(
            f"{api}/document_relations",
            json={"results": [{"documents": [f"{api}/documents/7"]}]},
            match=[
                matchers.query_param_matcher(
                    {"type": "export", "annotation": str(ANNOTATION_ID), "key": "csv"}
                )
            ],
        )
        mock.get(
            f"{api}/documents/7",
            json={
                "mime_type": "text/csv",
                "original_file_name": "export.csv",
                "content": f"{api}/documents/7/content",
            },
        )
        mock.get(f"{api}/documents/7/content", body=CSV)
        mock.get(f"{api}/documents/314621/content", body=PDF)
        annotation = f"{api}/annotations/{ANNOTATION_ID}"  # its metadata gets the receipt
        mock.get(annotation, json={"id": ANNOTATION_ID, "url": annotation, "metadata": {}})
        mock.patch(annotation, json={})
        yield mock


@pytest.fixture
def runtime(tmp_path):
    config = {**Config().as_flask_config(), **TEST_CONFIG}
    return Runtime({**config, "STATE_URL": f"sqlite:///{tmp_path}/state.sqlite3"})


def export(runtime, settings: dict):
    payload = parse_payload(build_payload(settings, secrets={"token": "t"}))
    redactor = Redactor.for_payload(payload.secrets, payload.rossum_token)
    return run_hook(payload, runtime, redactor).to_json()["messages"]


def test_multipart_body(rossum_api, runtime):
    rossum_api.post(
        TARGET,
        match=[
            matchers.multipart_matcher(
                {"file": ("INV-2024-0042.json", CSV, "text/csv")}, data={"other_field": VENDOR}
            ),
            matchers.header_matcher({"Authorization": "Bearer t"}),
        ],
    )
    settings = {
        "export_reference_key": "csv",
        "request": {
            "url": TARGET,
            "headers": {"Authorization": "Bearer {secret.token}"},
            "file_name": "@{document_id}.json",
            "file_key": "file",
            "request_data": {"other_field": "@{vendor}"},
        },
    }

    assert export(runtime, settings)[0]["type"] == "info"


def test_multipart_original_file(rossum_api, runtime):
    rossum_api.post(
        TARGET,
        match=[matchers.multipart_matcher({"pdf": ("invoice 0042.pdf", PDF, "application/pdf")})],
    )

    messages = export(runtime, {"request": {"url": TARGET, "file_key": "pdf"}})

    assert messages[0]["type"] == "info", messages


def test_form_urlencoded_body(rossum_api, runtime):
    rossum_api.put(
        TARGET,
        match=[matchers.urlencoded_params_matcher({"vendor": VENDOR, "odd": "a=1&b=2+3 ü"})],
    )
    settings = {
        "request": {
            "url": TARGET,
            "method": "PUT",
            "request_data": {"vendor": "@{vendor}", "odd": "a=1&b=2+3 ü"},
        }
    }

    assert export(runtime, settings)[0]["type"] == "info"


def test_raw_body_is_the_file_unchanged(rossum_api, runtime):
    rossum_api.post(TARGET, match=[matchers.body_matcher(CSV.decode())])

    messages = export(
        runtime,
        {"export_reference_key": "csv", "request": {"url": TARGET, "content": "#{file_content}"}},
    )

    assert messages[0]["type"] == "info", messages


def test_two_placeholders_of_one_file_fetch_it_once(rossum_api, runtime):
    rossum_api.post(TARGET)

    export(
        runtime,
        {
            "export_reference_key": "csv",
            "request": {"url": TARGET, "content": "#{file_content}|#{file_content}"},
        },
    )

    content_calls = [c for c in rossum_api.calls if c.request.url.endswith("/documents/7/content")]
    assert len(content_calls) == 1
    [sent] = [c for c in rossum_api.calls if c.request.url == TARGET]
    assert sent.request.body == CSV + b"|" + CSV
