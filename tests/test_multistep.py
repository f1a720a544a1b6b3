"""Multi-step exports (SPEC §5): values flow between export objects; one request per row."""

import json

import pytest

from app import tokens
from tests.conftest import PDF
from tests.servers import ServerThread, TokenEndpoint

CLIENT_CREDENTIALS = {
    "grant_type": "client_credentials",
    "client_id": "{secret.client_id}",
    "client_secret": "{secret.client_secret}",
}
ERP_ID_DATAPOINT = 1099


@pytest.fixture(autouse=True)
def forget_tokens():
    tokens._newest_tokens.clear()
    yield
    tokens._newest_tokens.clear()


@pytest.fixture
def token_endpoint():
    endpoint = TokenEndpoint(required={"client_id": "my-client", "client_secret": "s3cr3t-value"})
    server = ServerThread(endpoint).start()
    endpoint.url = f"{server.url}/oauth/token"
    yield endpoint
    server.stop()


def with_erp_datapoint(payload: dict) -> dict:
    """The annotation with an (empty) datapoint the ERP's invoice id is extracted into."""
    payload["annotation"]["content"][0]["children"].append(
        {
            "id": ERP_ID_DATAPOINT,
            "category": "datapoint",
            "schema_id": "erp_invoice_id",
            "content": {"value": "", "normalized_value": ""},
        }
    )
    return payload


def erp_chain(erp_url: str, token_url: str) -> dict:
    """Create a draft invoice, attach the original PDF to it, submit it: one hook."""
    auth = {"url": token_url, "data": CLIENT_CREDENTIALS}
    return {
        "export_configs": [
            {
                "auth": auth,
                "request": {
                    "url": f"{erp_url}/invoices",
                    "content": {"number": "@{document_id}", "vendor": "@{vendor}"},
                },
                "status_code_resolver": {"error": [400, 422, 500]},
                "extract": [{"value_path": "body.id", "target_schema_id": "erp_invoice_id"}],
            },
            {
                "auth": auth,
                "request": {
                    "url": f"{erp_url}/invoices/@{{erp_invoice_id}}/attachments",
                    "file_key": "file",
                    "file_content": "#{original_file}",
                    "request_data": {"invoice": "@{erp_invoice_id}"},
                },
                "status_code_resolver": {"error": [400, 404, 500]},
            },
            {
                "auth": auth,
                "request": {
                    "url": f"{erp_url}/invoices/@{{erp_invoice_id}}/submit",
                    "method": "PUT",
                },
                "status_code_resolver": {"error": [400, 404, 500]},
            },
        ]
    }


def test_a_three_step_erp_chain_passes_the_new_id_along_with_one_token(
    post_hook, payload_for, token_endpoint, target
):
    target.accepted_tokens = {"token-1"}
    target.reply_with(
        201, json.dumps({"id": "ERP-501"}).encode(), {"Content-Type": "application/json"}
    )
    payload = with_erp_datapoint(payload_for(erp_chain(target.url, token_endpoint.url)))

    _, answer = post_hook(payload)

    assert [m["type"] for m in answer["messages"]] == ["info", "info", "info"], answer
    create, attach, submit = target.requests
    assert (create.method, create.path) == ("POST", "/invoices")
    assert json.loads(create.body) == {
        "number": "INV-2024-0042",
        "vendor": "East West Trading Co & Sons",
    }
    assert (attach.method, attach.path) == ("POST", "/invoices/ERP-501/attachments")
    assert attach.files["file"] == ("invoice 0042.pdf", "application/pdf", PDF)
    assert attach.form == {"invoice": "ERP-501"}
    assert (submit.method, submit.path, submit.body) == ("PUT", "/invoices/ERP-501/submit", b"")
    assert {r.headers["Authorization"] for r in target.requests} == {"Bearer token-1"}
    assert len(token_endpoint.requests) == 1  # one token for the whole chain
    assert answer["operations"] == [
        {"op": "replace", "id": ERP_ID_DATAPOINT, "value": {"content": {"value": "ERP-501"}}}
    ]


def test_a_repeated_chain_sends_nothing_and_answers_the_same_values(
    post_hook, payload_for, token_endpoint, target
):
    target.reply_with(
        201, json.dumps({"id": "ERP-501"}).encode(), {"Content-Type": "application/json"}
    )
    payload = with_erp_datapoint(payload_for(erp_chain(target.url, token_endpoint.url)))

    _, first = post_hook(payload)
    _, repeat = post_hook(payload)

    assert len(target.requests) == 3
    assert repeat["operations"] == first["operations"]
    already = [m for m in repeat["messages"] if "Already exported" in m["content"]]
    assert len(already) == 3  # the id from the remembered answer rendered steps 2 and 3 alike


def test_a_failed_step_stops_the_chain(post_hook, payload_for, token_endpoint, target):
    target.reply_with(
        201, json.dumps({"id": "ERP-501"}).encode(), {"Content-Type": "application/json"}
    )
    target.reply_with(404, b'{"error": "no such invoice"}', {"Content-Type": "application/json"})
    payload = with_erp_datapoint(payload_for(erp_chain(target.url, token_endpoint.url)))

    _, answer = post_hook(payload)

    assert [m["type"] for m in answer["messages"]] == ["info", "error"]
    assert answer["messages"][1]["content"].startswith("export_configs[1]: Export failed: POST")
    assert len(target.requests) == 2  # submit not sent
    assert answer["operations"][0]["value"]["content"]["value"] == "ERP-501"
