"""The reply's content (SPEC §8): extract by xml_path and regex, and reply_rules."""

import json

import pytest

from app.pipeline.receipts import RECEIPTS_KEY
from tests.builders import ANNOTATION_ID, simple_settings

XML_REPLY = b"""<?xml version="1.0" encoding="UTF-8"?>
<Invoice id="ERP-4411">
  <DocumentId>DOC-2024-77</DocumentId>
  <Status code="BOOKED">booked &amp; queued</Status>
  <Lines><Line n="1">A</Line><Line n="2">B</Line></Lines>
</Invoice>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Invoice><DocumentId>&lol9;</DocumentId></Invoice>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:9/secret">]>
<Invoice><DocumentId>&x;</DocumentId></Invoice>"""


def settings_for(target, **export):
    return {**simple_settings(f"{target.url}/api/invoices"), **export}


def replace(datapoint_id: int, value: str) -> dict:
    return {"op": "replace", "id": datapoint_id, "value": {"content": {"value": value}}}


def test_xml_path_extracts_elements_attributes_and_text(post_hook, payload_for, target):
    target.reply_with(201, XML_REPLY, {"Content-Type": "application/xml"})
    settings = settings_for(
        target,
        extract=[
            {"xml_path": "./Invoice/DocumentId", "target_schema_id": "document_type"},
            {"xml_path": "./Invoice/@id", "target_schema_id": "language"},
            {"xml_path": ".//Status", "target_schema_id": "currency"},
            {"xml_path": "Invoice/Status/@code", "target_schema_id": "vendor"},
            {"xml_path": ".//Line[@n='2']", "target_schema_id": "vendor_vat_id"},
            {"xml_path": "./Invoice/Missing", "target_schema_id": "api_gate"},
        ],
    )

    _, answer = post_hook(payload_for(settings))

    assert answer["operations"] == [
        replace(1003, "DOC-2024-77"),
        replace(1005, "ERP-4411"),
        replace(1022, "booked & queued"),
        replace(1011, "BOOKED"),
        replace(1012, "B"),
    ]
    assert [m["type"] for m in answer["messages"]] == ["info", "warning"]
    assert answer["messages"][1]["content"] == (
        "extract[5]: './Invoice/Missing' found nothing in the reply; "
        "datapoint 'api_gate' left unchanged"
    )


def test_regex_extracts_the_first_group_else_the_whole_match(post_hook, payload_for, target):
    target.reply_with(201, b"Created invoice ERP-1234 (batch 77)\n", {"Content-Type": "text/plain"})
    settings = settings_for(
        target,
        extract=[
            {"regex": r"invoice (ERP-\d+)", "target_schema_id": "document_type"},
            {"regex": r"batch \d+", "target_schema_id": "language"},
            {"regex": r"(?i)CREATED", "target_schema_id": "currency"},
            {"regex": r"refused: (\w+)", "target_schema_id": "vendor"},
        ],
    )

    _, answer = post_hook(payload_for(settings))

    assert answer["operations"] == [
        replace(1003, "ERP-1234"),
        replace(1005, "batch 77"),
        replace(1022, "Created"),
    ]
    assert answer["messages"][1] == {
        "type": "warning",
        "content": "extract[3]: 'refused: (\\\\w+)' found nothing in the reply; "
        "datapoint 'vendor' left unchanged",
    }


@pytest.mark.parametrize("reply", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["laughs", "external"])
def test_an_xml_reply_with_a_dtd_is_refused_not_expanded(post_hook, payload_for, target, reply):
    target.reply_with(200, reply, {"Content-Type": "application/xml"})
    settings = settings_for(
        target, extract=[{"xml_path": "./Invoice/DocumentId", "target_schema_id": "document_type"}]
    )

    status, answer = post_hook(payload_for(settings))  # answered within the client's timeout

    assert status == 200
    assert answer["operations"] == []
    assert answer["messages"][0]["type"] == "info"  # delivered: the export itself succeeded
    assert answer["messages"][1] == {
        "type": "warning",
        "content": "extract[0]: xml_path './Invoice/DocumentId': the XML reply declares a "
        "DTD or entities, which are refused (never expanded or fetched); "
        "datapoint 'document_type' left unchanged",
    }
    assert len(target.requests) == 1  # the external entity was not fetched from anywhere
    assert "lol" not in json.dumps(answer)


@pytest.mark.parametrize(
    ("reply", "rule", "problem"),
    [
        (
            b"{not xml",
            {"xml_path": "./a"},
            "xml_path './a': the reply is not well-formed XML (not well-formed",
        ),
        (b"\x00\x01\xff", {"regex": "."}, "regex '.': the reply body is not text"),
    ],
)
def test_a_reply_a_selector_cannot_read_is_a_warning(
    post_hook, payload_for, target, reply, rule, problem
):
    target.reply_with(200, reply, {"Content-Type": "application/octet-stream"})
    settings = settings_for(target, extract=[{**rule, "target_schema_id": "document_type"}])

    _, answer = post_hook(payload_for(settings))

    assert answer["operations"] == []
    note = answer["messages"][1]
    assert note["type"] == "warning"
    assert note["content"].startswith(f"extract[0]: {problem}")  # the parser's words follow
    assert note["content"].endswith("; datapoint 'document_type' left unchanged")


COUPA_RULES = [
    {
        "when": "body.warnings",
        "type": "warning",
        "message": "The ERP warns",
        "details": "body.warnings[0]",
    },
    {
        "when": "body.errors",
        "type": "error",
        "message": "The ERP refused the invoice",
        "details": "body.errors",
    },
    {"when": "body.status == 'draft'", "type": "info", "message": "Saved as a draft"},
]
COUPA_REFUSAL = {
    "errors": {"invoice-number": ["has already been taken"], "supplier": ["is inactive"]},
    "warnings": ["currency differs from the PO"],
}


def test_reply_rules_fail_a_200_that_carries_errors_and_the_next_delivery_sends_again(
    post_hook, payload_for, fake_rossum, target
):
    target.default_reply.body = json.dumps(COUPA_REFUSAL).encode()
    settings = {
        "export_configs": [
            settings_for(
                target,
                # a rule after the error that holds is not evaluated: the export failed
                reply_rules=[*COUPA_RULES, {"when": "body", "type": "info", "message": "ok"}],
                extract=[{"value_path": "body.id", "target_schema_id": "document_type"}],
            ),
            settings_for(target),  # never reached: the first export failed
        ]
    }
    payload = payload_for(settings)

    first = post_hook(payload)
    second = post_hook(payload)

    host = target.url[7:]
    for status, answer in (first, second):
        assert status == 200
        assert answer == {
            "messages": [
                {
                    "type": "error",
                    "content": "export_configs[0]: The ERP refused the invoice: "
                    '{"invoice-number": ["has already been taken"], "supplier": ["is inactive"]}',
                },
                {
                    "type": "warning",
                    "content": "export_configs[0]: The ERP warns: currency differs from the PO",
                },
                {
                    "type": "info",
                    "content": "export_configs[0]: Sent, but refused by the reply rules: "
                    f"POST {host} answered 200 OK",
                },
            ],
            "operations": [],  # nothing extracted from a refused export
        }
    assert len(target.requests) == 2  # not remembered as delivered: sent again
    assert RECEIPTS_KEY not in fake_rossum.annotations[ANNOTATION_ID]["metadata"]


def test_reply_rules_that_do_not_hold_leave_a_success(post_hook, payload_for, fake_rossum, target):
    target.default_reply.body = json.dumps(
        {"id": "INV-9", "status": "draft", "errors": {}}
    ).encode()
    settings = settings_for(
        target,
        reply_rules=COUPA_RULES,
        extract=[{"value_path": "body.id", "target_schema_id": "document_type"}],
    )
    payload = payload_for(settings)

    _, answer = post_hook(payload)
    _, repeat = post_hook(payload)

    assert answer == {
        "messages": [
            {"type": "info", "content": f"Exported: POST {target.url[7:]} answered 200 OK"},
            {"type": "info", "content": "Saved as a draft"},
        ],
        "operations": [replace(1003, "INV-9")],
    }
    assert len(target.requests) == 1  # delivered, so the repeat is answered from memory
    assert len(fake_rossum.annotations[ANNOTATION_ID]["metadata"][RECEIPTS_KEY]) == 1
    assert repeat["messages"][-1]["content"].startswith("Already exported at")


def test_reply_rules_add_to_a_resolver_error_and_read_headers_and_status(
    post_hook, payload_for, target
):
    target.reply_with(
        422, b'{"errors": {"total": ["mismatch"]}}', {"Content-Type": "application/json"}
    )
    rules = [
        {"when": "status_code == `422`", "type": "warning", "message": "Unprocessable"},
        *COUPA_RULES,
    ]
    settings = settings_for(target, status_code_resolver={"error": [422]}, reply_rules=rules)

    _, answer = post_hook(payload_for(settings))

    assert [m["type"] for m in answer["messages"]] == ["error", "warning", "error"]
    assert answer["messages"][0]["content"].startswith("Export failed: POST")
    assert answer["messages"][1:] == [
        {"type": "warning", "content": "Unprocessable"},
        {"type": "error", "content": 'The ERP refused the invoice: {"total": ["mismatch"]}'},
    ]


def test_an_error_rule_after_a_resolver_warning_keeps_the_warning(post_hook, payload_for, target):
    target.reply_with(
        409, b'{"errors": {"number": ["taken"]}}', {"Content-Type": "application/json"}
    )
    settings = settings_for(
        target, status_code_resolver={"warning": [409]}, reply_rules=COUPA_RULES
    )

    _, answer = post_hook(payload_for(settings))

    assert [m["type"] for m in answer["messages"]] == ["error", "warning"]
    assert answer["messages"][0]["content"] == 'The ERP refused the invoice: {"number": ["taken"]}'
    assert answer["messages"][1]["content"].startswith("Exported with a warning: POST")
