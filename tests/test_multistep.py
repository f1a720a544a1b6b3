"""Multi-step exports (SPEC §5): values flow between export objects; one request per row."""

import json

import pytest
import requests

from app.pipeline.receipts import RECEIPTS_KEY
from tests.builders import ANNOTATION_ID
from tests.conftest import PDF
from tests.servers import ServerThread, TokenEndpoint

CLIENT_CREDENTIALS = {
    "grant_type": "client_credentials",
    "client_id": "{secret.client_id}",
    "client_secret": "{secret.client_secret}",
}
ERP_ID_DATAPOINT = 1099


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


def line_settings(target, **export) -> dict:
    """One request per line item, its JSON body rendered in the row's scope."""
    return {
        "iterate_over": "line_item",
        "request": {
            "url": f"{target.url}/invoices/@{{document_id}}/lines",
            "content": {
                "n": {
                    "$DATAPOINT_VALUE$": {"schema_id": "schema_loop.index", "value_type": "integer"}
                },
                "index0": "@{schema_loop.index0}",
                "text": "@{item_description}",
                "quantity": {
                    "$DATAPOINT_VALUE$": {"schema_id": "item_quantity", "value_type": "integer"}
                },
                "currency": "@{currency}",  # not in the row: the annotation's
            },
        },
        "status_code_resolver": {"error": [500]},
        **export,
    }


def line_ids(target) -> None:
    """The target answers each line with an id of its own."""
    target.default_reply.body = lambda request: json.dumps(
        {"line_id": f"L-{json.loads(request.get_data())['n']}"}
    ).encode()


def set_quantity(payload: dict, row: int, quantity: str) -> None:
    line_items = payload["annotation"]["content"][3]["children"][0]["children"]
    line_items[row]["children"][1]["content"] = {"value": quantity, "normalized_value": quantity}


def test_iterate_over_sends_one_request_per_row_in_order(post_hook, payload_for, target):
    line_ids(target)
    settings = line_settings(
        target, extract=[{"value_path": "body.line_id", "target_schema_id": "item_description"}]
    )

    _, answer = post_hook(payload_for(settings))

    host = target.url[7:]
    assert answer["messages"] == [
        *(
            {
                "type": "info",
                "content": f"row {n} of line_item: Exported: POST {host} answered 200 OK",
            }
            for n in (1, 2, 3)
        ),
        {"type": "info", "content": "3 of 3 rows of line_item exported."},
    ]
    assert [json.loads(r.body) for r in target.requests] == [
        {"n": 1, "index0": "0", "text": "AWS services #1", "quantity": 750, "currency": "eur"},
        {"n": 2, "index0": "1", "text": "AWS services #2", "quantity": 751, "currency": "eur"},
        {"n": 3, "index0": "2", "text": "AWS services #3", "quantity": 752, "currency": "eur"},
    ]
    assert {r.path for r in target.requests} == {"/invoices/INV-2024-0042/lines"}
    # each row's reply lands in that row's datapoint
    assert answer["operations"] == [
        {"op": "replace", "id": 1041, "value": {"content": {"value": "L-1"}}},
        {"op": "replace", "id": 1051, "value": {"content": {"value": "L-2"}}},
        {"op": "replace", "id": 1061, "value": {"content": {"value": "L-3"}}},
    ]


def test_a_redelivery_sends_nothing_and_a_changed_row_sends_only_that_row(
    post_hook, payload_for, target
):
    line_ids(target)
    payload = payload_for(line_settings(target))

    post_hook(payload)
    _, repeat = post_hook(payload)

    assert len(target.requests) == 3
    assert [m["content"].split(": ", 1)[1][:16] for m in repeat["messages"][:-1]] == [
        "Exported: POST 1",
        "Already exported",
    ] * 3
    assert repeat["messages"][-1]["content"] == "3 of 3 rows of line_item exported."

    set_quantity(payload, 1, "999")
    _, changed = post_hook(payload)

    assert len(target.requests) == 4
    assert json.loads(target.requests[3].body)["quantity"] == 999
    assert sum("Already exported" in m["content"] for m in changed["messages"]) == 2


def apply_operations(payload: dict, operations: list[dict]) -> None:
    """What Rossum does with the hook answer's replace operations."""
    values = {operation["id"]: operation["value"]["content"]["value"] for operation in operations}

    def walk(node):
        if node.get("id") in values:
            node["content"] = {"value": values[node["id"]], "normalized_value": None}
        for child in node.get("children") or []:
            walk(child)

    for section in payload["annotation"]["content"]:
        walk(section)


def test_a_row_whose_extracted_value_rossum_applied_is_not_sent_again(
    post_hook, payload_for, target
):
    line_ids(target)
    extract = [{"value_path": "body.line_id", "target_schema_id": "item_amount"}]
    payload = payload_for(line_settings(target, extract=extract))

    _, first = post_hook(payload)
    apply_operations(payload, first["operations"])
    _, repeat = post_hook({**payload, "request_id": "a-later-delivery"})

    assert len(target.requests) == 3
    assert sum("Already exported" in m["content"] for m in repeat["messages"]) == 3


def test_the_first_failing_row_stops_the_rest_and_is_sent_again_next_time(
    post_hook, payload_for, target
):
    target.reply_with(200, b"{}")
    target.reply_with(500, b'{"error": "line 2 refused"}')
    payload = payload_for(line_settings(target))

    _, answer = post_hook(payload)

    host = target.url[7:]
    assert answer["messages"] == [
        {"type": "info", "content": f"row 1 of line_item: Exported: POST {host} answered 200 OK"},
        {
            "type": "error",
            "content": f"row 2 of line_item: Export failed: POST {host} answered 500 "
            'INTERNAL SERVER ERROR: {"error": "line 2 refused"}',
        },
        {"type": "info", "content": "1 of 3 rows of line_item exported; row 2 failed, 1 not sent."},
    ]
    assert len(target.requests) == 2  # row 3 not sent

    _, again = post_hook(payload)

    assert [json.loads(r.body)["n"] for r in target.requests] == [1, 2, 2, 3]
    assert again["messages"][-1]["content"] == "3 of 3 rows of line_item exported."


def test_a_row_that_cannot_be_rendered_fails_that_row(post_hook, payload_for, target):
    payload = payload_for(line_settings(target))
    set_quantity(payload, 1, "seven")  # not an integer

    _, answer = post_hook(payload)

    failure = answer["messages"][1]
    assert failure["type"] == "error"
    assert failure["content"].startswith(
        "row 2 of line_item: Export failed (template): request.content.quantity"
    )
    assert answer["messages"][2]["content"] == (
        "1 of 3 rows of line_item exported; row 2 failed, 1 not sent."
    )
    assert len(target.requests) == 1


@pytest.mark.parametrize("iterate_over", ["line_item", "line_items"])
def test_no_rows_is_an_info_and_nothing_is_sent(post_hook, payload_for, target, iterate_over):
    payload = payload_for(line_settings(target, iterate_over=iterate_over))
    payload["annotation"]["content"][3]["children"][0]["children"] = []

    _, answer = post_hook(payload)

    assert answer == {
        "messages": [{"type": "info", "content": f"No rows of {iterate_over}: nothing sent."}],
        "operations": [],
    }
    assert target.requests == []


def test_the_multivalue_schema_id_iterates_its_rows_too(post_hook, payload_for, target):
    _, answer = post_hook(payload_for(line_settings(target, iterate_over="line_items")))

    assert answer["messages"][-1]["content"] == "3 of 3 rows of line_items exported."
    assert [json.loads(r.body)["text"] for r in target.requests] == [
        "AWS services #1",
        "AWS services #2",
        "AWS services #3",
    ]


@pytest.mark.parametrize(
    ("request_settings", "sent"),
    [
        ({"content": "@{schema_loop.index}:@{item_amount}"}, lambda r: r.body.decode()),
        (
            {"request_data": {"n": "@{schema_loop.index}", "amount": "@{item_amount}"}},
            lambda r: r.form,
        ),
        (
            {
                "file_key": "pdf",
                "request_data": {"n": "@{schema_loop.index}", "amount": "@{item_amount}"},
            },
            lambda r: (r.form, r.files["pdf"][2] == PDF),
        ),
        ({"method": "PUT"}, lambda r: (r.method, r.body)),
    ],
    ids=["raw", "form", "multipart", "no-body"],
)
def test_every_exporter_can_iterate(post_hook, payload_for, target, request_settings, sent):
    settings = {
        "iterate_over": "line_item",
        "request": {"url": f"{target.url}/lines/@{{schema_loop.index}}", **request_settings},
    }

    _, answer = post_hook(payload_for(settings))

    assert answer["messages"][-1]["content"] == "3 of 3 rows of line_item exported.", answer
    assert [r.path for r in target.requests] == ["/lines/1", "/lines/2", "/lines/3"]
    received = [sent(r) for r in target.requests]
    expected = {
        "raw": ["1:10.50", "2:11.50", "3:12.50"],
        "form": [{"n": str(n), "amount": a} for n, a in ((1, "10.50"), (2, "11.50"), (3, "12.50"))],
        "no-body": [("PUT", b"")] * 3,
    }
    if "file_key" in request_settings:
        assert received == [
            ({"n": str(n), "amount": a}, True)
            for n, a in ((1, "10.50"), (2, "11.50"), (3, "12.50"))
        ]
    else:
        kind = (
            "raw"
            if "content" in request_settings
            else "form"
            if "request_data" in request_settings
            else "no-body"
        )
        assert received == expected[kind]


def test_rows_are_exports_of_their_own_even_when_their_requests_are_alike(
    post_hook, payload_for, target
):
    settings = {
        "iterate_over": "line_item",
        "request": {
            "url": f"{target.url}/ping",
            "headers": {"Idempotency-Key": "#{idempotency_key}"},
        },
    }
    payload = payload_for(settings)

    _, answer = post_hook(payload)
    post_hook(payload)

    assert answer["messages"][-1]["content"] == "3 of 3 rows of line_item exported."
    assert len(target.requests) == 3  # not taken for repeats of row 1; nor sent again
    keys = [r.headers["Idempotency-Key"] for r in target.requests]
    assert len(set(keys)) == 3  # a key of its own per row


def test_preview_shows_every_request_of_a_chain_and_of_an_iteration(
    client, payload_for, fake_rossum, token_endpoint, target
):
    chain = erp_chain(target.url, token_endpoint.url)
    chain["export_configs"].append(line_settings(target))
    payload = with_erp_datapoint(payload_for(chain))

    response = client.post("/preview", json=payload)

    assert response.status_code == 200
    create, attach, submit, *lines = response.json["requests"]
    assert create["url"] == f"{target.url}/invoices"
    # the id the create step would extract is shown as its placeholder: nothing was sent
    assert attach["url"] == f"{target.url}/invoices/@{{erp_invoice_id}}/attachments"
    assert attach["body"]["parts"][0] == {"name": "invoice", "text": "@{erp_invoice_id}"}
    assert (submit["method"], submit["url"]) == (
        "PUT",
        f"{target.url}/invoices/@{{erp_invoice_id}}/submit",
    )
    assert [(line["path"], line["row"]) for line in lines] == [
        ("export_configs[3]", 1),
        ("export_configs[3]", 2),
        ("export_configs[3]", 3),
    ]
    assert [json.loads(line["body"]["text_head"])["text"] for line in lines] == [
        "AWS services #1",
        "AWS services #2",
        "AWS services #3",
    ]
    assert target.requests == [] and token_endpoint.requests == []
    assert {call.method for call in fake_rossum.calls} == {"GET"}


def test_preview_of_an_iteration_without_rows(client, payload_for, target):
    payload = payload_for(line_settings(target))
    payload["annotation"]["content"][3]["children"][0]["children"] = []

    response = client.post("/preview", json=payload)

    assert response.json["requests"] == [
        {"path": "", "exporter": "RawBodyExporter", "skipped": "no rows of line_item"}
    ]


@pytest.fixture
def restarted_instance(make_app, tmp_path):
    """The service started afresh with an empty state store (a restarted dyno's disk)."""
    server = ServerThread(make_app(STATE_URL=f"sqlite:///{tmp_path}/restarted.sqlite3")).start()
    yield server.url
    server.stop()


def redelivered(payload: dict, fake_rossum, erp_invoice_id: str) -> dict:
    """The chain's hook call sent again: the receipts Rossum now holds, the id as given."""
    again = json.loads(json.dumps(payload))
    again["request_id"] = "redelivery-2"
    again["annotation"]["metadata"] = fake_rossum.annotations[ANNOTATION_ID]["metadata"]
    again["annotation"]["content"][0]["children"][-1]["content"]["value"] = erp_invoice_id
    return again


def test_a_chain_answered_from_receipts_keeps_the_remembered_values(
    post_hook, payload_for, fake_rossum, token_endpoint, target
):
    target.reply_with(
        201, json.dumps({"id": "ERP-501"}).encode(), {"Content-Type": "application/json"}
    )
    payload = with_erp_datapoint(payload_for(erp_chain(target.url, token_endpoint.url)))
    _, first = post_hook(payload)
    assert len(fake_rossum.annotations[ANNOTATION_ID]["metadata"][RECEIPTS_KEY]) == 3

    # Rossum never applied the first answer's operations: the id comes from the state store
    _, repeat = post_hook(redelivered(payload, fake_rossum, ""))

    assert len(target.requests) == 3
    assert repeat["operations"] == first["operations"]
    assert sum("Already exported" in m["content"] for m in repeat["messages"]) == 3


@pytest.mark.parametrize("applied", [True, False], ids=["id-in-annotation", "id-unknown"])
def test_a_chain_answered_from_receipts_alone_never_renders_without_the_id(
    post_hook, payload_for, fake_rossum, token_endpoint, target, restarted_instance, applied
):
    target.reply_with(
        201, json.dumps({"id": "ERP-501"}).encode(), {"Content-Type": "application/json"}
    )
    payload = with_erp_datapoint(payload_for(erp_chain(target.url, token_endpoint.url)))
    post_hook(payload)
    again = redelivered(payload, fake_rossum, "ERP-501" if applied else "")

    answer = requests.post(restarted_instance, json=again, timeout=30).json()

    assert len(target.requests) == 3  # nothing sent again, in either case
    if applied:
        assert [m["type"] for m in answer["messages"]] == ["info", "info", "info"], answer
        assert all("Already exported" in m["content"] for m in answer["messages"])
    else:
        [message] = answer["messages"]
        assert message["type"] == "error"
        assert message["content"].startswith("export_configs[0]: Already exported at ")
        assert message["content"].endswith(
            ", but the values its extract rules wrote are not known to this delivery "
            "(datapoint 'erp_invoice_id' is empty), so the exports after it are not sent. "
            "Fill in the value from the target, then export again."
        )
