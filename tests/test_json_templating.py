"""JSON templating operators (SPEC §5) over the fixture annotation (three line items)."""

import json

import pytest

from app.annotation import AnnotationContent
from app.errors import SettingsError, TemplateError
from app.json_templating import OMIT, Scope, render_json
from app.settings import load_settings
from app.templating import TemplateValues
from tests.builders import annotation_content, simple_settings

CONTENT = AnnotationContent(annotation_content())
VALUES = TemplateValues(
    datapoint=CONTENT.value, secrets={"token": "t0k3n"}, variables={"annotation_id": "314521"}
)


def render(template):
    return render_json(template, VALUES, Scope(CONTENT), "request.content")


def value(schema_id, value_type=None):
    arguments = {"schema_id": schema_id}
    if value_type:
        arguments["value_type"] = value_type
    return {"$DATAPOINT_VALUE$": arguments}


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        (value("document_id"), "INV-2024-0042"),
        (value("amount_total"), "1 234.50"),  # string: what the user sees
        (value("amount_total", "float"), 1234.5),  # numbers from normalized_value
        (value("item_quantity", "integer"), 750),
        (value("item_amount", "float"), 10.5),
        (value("date_issue", "iso_datetime"), "2024-08-06T00:00:00"),
        (value("api_gate", "boolean"), True),
        (value("api_gate_off", "integer"), None),  # empty: null
        ("@{currency}", "eur"),  # the short form
        ("{secret.token}/@{document_id}", "t0k3n/INV-2024-0042"),
        (
            {"n": 1, "list": [True, None, "#{annotation_id}"]},
            {"n": 1, "list": [True, None, "314521"]},
        ),
    ],
)
def test_datapoint_values_and_plain_templates(template, rendered):
    assert render(template) == rendered


def test_an_iso_datetime_in_utc_keeps_its_zone():
    content = AnnotationContent(
        [
            {
                "category": "datapoint",
                "schema_id": "paid_at",
                "content": {"value": "2024-08-06T10:00:00Z"},
            }
        ]
    )
    values = TemplateValues(datapoint=content.value, secrets={}, variables={})

    rendered = render_json(
        value("paid_at", "iso_datetime"), values, Scope(content), "request.content"
    )

    assert rendered == "2024-08-06T10:00:00+00:00"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            value("vendor", "float"),
            "request.content: datapoint 'vendor' value 'East West Trading Co & Sons' cannot be "
            "converted to float",
        ),
        (
            value("item_amount", "integer"),
            "request.content: datapoint 'item_amount' value '10.50' cannot be converted to integer",
        ),
        (
            value("vendor", "boolean"),
            "request.content: datapoint 'vendor' value 'East West Trading Co & Sons' cannot be "
            "converted to boolean",
        ),
        (value("nothing"), "request.content: datapoint 'nothing' is not in the annotation"),
    ],
)
def test_values_that_cannot_be_converted_fail_naming_them(template, message):
    with pytest.raises(TemplateError) as raised:
        render(template)

    assert str(raised.value) == message


def mapping(schema_id, **arguments):
    return {"$DATAPOINT_MAPPING$": {"schema_id": schema_id, **arguments}}


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        (mapping("currency", mapping={"eur": "EUR", "usd": "USD"}), "EUR"),
        (mapping("language", mapping={"ces": "cs"}), None),  # miss, no fallback
        (mapping("language", mapping={"ces": "cs"}, fallback_mapping="@{language}"), "eng"),
        (
            mapping(
                "document_type", mapping={"tax_invoice": {"kind": "INV", "id": "@{document_id}"}}
            ),
            {"kind": "INV", "id": "INV-2024-0042"},
        ),
    ],
)
def test_datapoint_mapping(template, rendered):
    assert render(template) == rendered


def for_each(**arguments):
    return {"$FOR_EACH_SCHEMA_ID$": {"schema_id": "line_item", **arguments}}


def test_for_each_renders_every_line_item_with_its_own_datapoints_and_index():
    template = for_each(
        mapping={
            "line": "@{schema_loop.index}",
            "position": {
                "$DATAPOINT_VALUE$": {"schema_id": "schema_loop.index0", "value_type": "integer"}
            },
            "description": "@{item_description}",
            "quantity": value("item_quantity", "integer"),
            "amount": value("item_amount", "float"),
            "invoice": "@{document_id}",  # outside the tuple: the annotation's
        }
    )

    assert render(template) == [
        {
            "line": "1",
            "position": 0,
            "description": "AWS services #1",
            "quantity": 750,
            "amount": 10.5,
            "invoice": "INV-2024-0042",
        },
        {
            "line": "2",
            "position": 1,
            "description": "AWS services #2",
            "quantity": 751,
            "amount": 11.5,
            "invoice": "INV-2024-0042",
        },
        {
            "line": "3",
            "position": 2,
            "description": "AWS services #3",
            "quantity": 752,
            "amount": 12.5,
            "invoice": "INV-2024-0042",
        },
    ]


@pytest.mark.parametrize(
    ("arguments", "rendered"),
    [
        ({}, []),
        ({"fallback_mapping": [{"line": "none"}]}, [{"line": "none"}]),
    ],
)
def test_for_each_without_elements_gives_the_fallback(arguments, rendered):
    template = {"$FOR_EACH_SCHEMA_ID$": {"schema_id": "no_items", "mapping": "x", **arguments}}

    assert render(template) == rendered


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ({"gate": {"$IF_SCHEMA_ID$": {"schema_id": "api_gate", "mapping": "on"}}}, {"gate": "on"}),
        ({"gate": {"$IF_SCHEMA_ID$": {"schema_id": "api_gate_off", "mapping": "on"}}}, {}),
        ({"gate": {"$IF_SCHEMA_ID$": {"schema_id": "missing", "mapping": "on"}}}, {}),
        (
            {
                "gate": {
                    "$IF_SCHEMA_ID$": {
                        "schema_id": "api_gate_off",
                        "mapping": "on",
                        "fallback_mapping": "off",
                    }
                }
            },
            {"gate": "off"},
        ),
        (
            {"items": {"$IF_SCHEMA_ID$": {"schema_id": "line_items", "mapping": "has items"}}},
            {"items": "has items"},
        ),
    ],
)
def test_if_schema_id(template, rendered):
    assert render(template) == rendered


@pytest.mark.parametrize(
    ("schema_id", "expected", "rendered"),
    [
        ("currency", "eur", {"vat": 21}),
        ("currency", "usd", {}),
    ],
)
def test_if_datapoint_value(schema_id, expected, rendered):
    template = {
        "vat": {"$IF_DATAPOINT_VALUE$": {"schema_id": schema_id, "value": expected, "mapping": 21}}
    }

    assert render(template) == rendered


@pytest.mark.parametrize(
    ("schema_id", "problem"),
    [("missing", "is not in the annotation"), ("item_amount", "is there more than once")],
)
def test_if_datapoint_value_needs_exactly_one_datapoint(schema_id, problem):
    template = {"$IF_DATAPOINT_VALUE$": {"schema_id": schema_id, "value": "x", "mapping": 1}}

    with pytest.raises(TemplateError, match=problem):
        render(template)


def test_operators_nest():
    template = for_each(
        mapping={
            "text": "@{item_description}",
            "big": {
                "$IF_DATAPOINT_VALUE$": {
                    "schema_id": "item_quantity",
                    "value": "752",
                    "mapping": mapping("currency", mapping={"eur": "€"}),
                }
            },
        }
    )

    assert render(template) == [
        {"text": "AWS services #1"},
        {"text": "AWS services #2"},
        {"text": "AWS services #3", "big": "€"},
    ]


def test_a_top_level_operator_that_leaves_itself_out_is_omit():
    assert render({"$IF_SCHEMA_ID$": {"schema_id": "missing", "mapping": 1}}) is OMIT


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            {"a": {"$DATAPOINT_VALUE$": {"schema_id": "x", "value_type": "money"}}},
            "request.content.a.$DATAPOINT_VALUE$.value_type: must be one of string, integer, "
            "float, boolean, iso_datetime",
        ),
        (
            [{"$FOR_EACH_SCHEMA_ID$": {"schema_id": "x"}}],
            "request.content[0].$FOR_EACH_SCHEMA_ID$.mapping: is required",
        ),
        (
            {"$IF_SCHEMA_ID$": {"schema_id": "x", "mapping": 1, "else": 2}},
            "request.content.$IF_SCHEMA_ID$.else: unknown key",
        ),
        (42, "request.content: must be a string, an object or an array, not a number"),
    ],
)
def test_operator_mistakes_are_settings_errors_with_paths(content, problem):
    with pytest.raises(SettingsError) as raised:
        load_settings({"request": {"url": "https://x.example", "content": content}})

    assert [str(p) for p in raised.value.problems] == [problem]


def test_a_json_content_body_builds_an_invoice(post_hook, payload_for, target):
    content = {
        "invoice_number": "@{document_id}",
        "issued": value("date_issue", "iso_datetime"),
        "total": value("amount_total", "float"),
        "currency": mapping("currency", mapping={"eur": "EUR"}, fallback_mapping="@{currency}"),
        "lines": for_each(
            mapping={
                "n": value("schema_loop.index", "integer"),
                "text": "@{item_description}",
                "qty": value("item_quantity", "integer"),
            }
        ),
        "approved": {"$IF_SCHEMA_ID$": {"schema_id": "api_gate", "mapping": True}},
    }
    settings = {
        "request": {
            "url": f"{target.url}/invoices",
            "content": content,
            "headers": {
                "X-Lines": for_each(mapping="@{item_quantity}"),
                "X-Gate": {"$IF_SCHEMA_ID$": {"schema_id": "api_gate_off", "mapping": "x"}},
            },
        }
    }

    _, answer = post_hook(payload_for(settings))

    assert answer["messages"][0]["type"] == "info", answer
    [received] = target.requests
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["X-Lines"] == '["750","751","752"]'
    assert "X-Gate" not in received.headers
    assert json.loads(received.body) == {
        "invoice_number": "INV-2024-0042",
        "issued": "2024-08-06T00:00:00",
        "total": 1234.5,
        "currency": "EUR",
        "lines": [
            {"n": 1, "text": "AWS services #1", "qty": 750},
            {"n": 2, "text": "AWS services #2", "qty": 751},
            {"n": 3, "text": "AWS services #3", "qty": 752},
        ],
        "approved": True,
    }


def test_operator_values_in_form_fields_are_sent_json_encoded(post_hook, payload_for, target):
    settings = simple_settings(f"{target.url}/f")
    del settings["request"]["content"], settings["request"]["headers"]
    settings["request"]["request_data"] = {
        "total": value("amount_total", "float"),
        "lines": for_each(mapping=value("item_quantity", "integer")),
        "vat": {"$IF_DATAPOINT_VALUE$": {"schema_id": "currency", "value": "usd", "mapping": 1}},
    }

    post_hook(payload_for(settings))

    assert target.requests[0].form == {"total": "1234.5", "lines": "[750,751,752]"}
