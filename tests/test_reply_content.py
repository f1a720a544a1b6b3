"""The reply's content (SPEC §8): extract by xml_path and regex, and reply_rules."""

import json

import pytest

from tests.builders import simple_settings

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
