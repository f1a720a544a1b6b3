"""The settings schemas (SPEC §4): documented configs load, mistakes are named by path."""

import json

import pytest

from app.errors import SettingsError
from app.settings import ExportSettings, load_settings
from tests.builders import FIXTURES

SEED_EXAMPLES = json.loads((FIXTURES / "seed_examples.json").read_text())


@pytest.mark.parametrize("name", sorted(SEED_EXAMPLES))
def test_every_documented_example_validates(name):
    [export] = load_settings(SEED_EXAMPLES[name])

    assert isinstance(export, ExportSettings)
    assert export.request.url == SEED_EXAMPLES[name]["request"]["url"]


def test_defaults_are_filled_in():
    [export] = load_settings({"request": {"url": "https://erp.example.com"}})

    assert export.request.method == "POST"
    assert export.request.headers == {}
    assert export.mode == "wait"
    assert export.deduplicate is True
    assert export.path == ""


@pytest.mark.parametrize(("written", "loaded"), [({}, "body"), ({"client_auth": "basic"}, "basic")])
def test_client_auth_defaults_to_the_body(written, loaded):
    [export] = load_settings({"request": REQUEST, "auth": {**AUTH, **written}})

    assert export.auth.client_auth == loaded


def test_string_data_is_the_older_spelling_of_content():
    [export] = load_settings({"request": {"url": "https://x.example", "data": "#{file_content}"}})

    assert export.request.content == "#{file_content}"


def test_object_data_is_the_older_spelling_of_request_data():
    [export] = load_settings({"request": {"url": "https://x.example", "data": {"a": "@{b}"}}})

    assert export.request.request_data == {"a": "@{b}"}
    assert export.request.content is None


def test_export_configs_keep_their_order_and_paths():
    exports = load_settings(
        {
            "export_configs": [
                {"request": {"url": "https://a.example"}},
                {"request": {"url": "https://b.example", "method": "put"}},
            ]
        }
    )

    assert [(e.path, e.request.url, e.request.method) for e in exports] == [
        ("export_configs[0]", "https://a.example", "POST"),
        ("export_configs[1]", "https://b.example", "PUT"),
    ]


REQUEST = {"url": "https://erp.example.com"}
RULE = {"when": "body.errors", "type": "error", "message": "refused"}
EXTRACT = {"target_schema_id": "erp_id"}
AUTH = {"url": "https://t.example", "data": {"client_id": "c", "client_secret": "{secret.s}"}}


INVALID_SETTINGS = [
    ({}, ["request: is required"]),
    ({"request": {}}, ["request.url: is required"]),
    (
        {"request": {**REQUEST, "methd": "GET"}},
        ["request.methd: unknown key (did you mean 'method'?)"],
    ),
    (
        {"request": REQUEST, "conditon": "@{x}"},
        ["conditon: unknown key (did you mean 'condition'?)"],
    ),
    ({"request": {"url": 42}}, ["request.url: must be a string"]),
    (
        {"request": {**REQUEST, "method": "GET POST"}},
        ["request.method: 'GET POST' is not an HTTP method"],
    ),
    (
        {"request": {**REQUEST, "headers": ["Content-Type"]}},
        ["request.headers: must be an object"],
    ),
    (
        {"request": {**REQUEST, "headers": {"X-Count": 3}}},
        ["request.headers.X-Count: must be a string or a templating operator, not a number"],
    ),
    (
        {"request": {**REQUEST, "content": "a", "file_key": "file"}},
        ["request.content: a request has one body: content, or file_key/request_data, not both"],
    ),
    (
        {"request": {**REQUEST, "content": "a", "data": "b"}},
        ["request.data: give content or data, not both"],
    ),
    (
        {"request": {**REQUEST, "data": 5}},
        ["request.data: must be a string or an object, not a number"],
    ),
    (
        {"request": {**REQUEST, "file_name": "a.csv"}},
        ["request.file_name: is only used together with file_key"],
    ),
    (
        {"request": {**REQUEST, "file_key": "f", "file_content": "#{file}"}},
        ["request.file_content: must be one of #{file_content}, #{original_file}, not '#{file}'"],
    ),
    ({"request": REQUEST, "mode": "fast"}, ["mode: must be one of wait, retry, not 'fast'"]),
    ({"request": REQUEST, "deduplicate": "yes"}, ["deduplicate: must be true or false"]),
    (
        {"request": REQUEST, "status_code_resolver": {"error": [500, "404"]}},
        ["status_code_resolver.error[1]: must be an integer"],
    ),
    (
        {"request": REQUEST, "status_code_resolver": {"eror": [500]}},
        ["status_code_resolver.eror: unknown key (did you mean 'error'?)"],
    ),
    (
        {"request": REQUEST, "auth": {"url": "https://t.example", "method": "PUT"}},
        ["auth.method: must be one of POST, GET, not 'PUT'"],
    ),
    (
        {"request": REQUEST, "auth": {"url": "https://t.example", "data": {"scope": ["a"]}}},
        ["auth.data.scope: must be a string, not an array"],
    ),
    (
        {"request": REQUEST, "auth": {**AUTH, "client_auth": "header"}},
        ["auth.client_auth: must be one of body, basic, not 'header'"],
    ),
    (
        {"request": REQUEST, "auth": {"url": "https://t.example", "client_auth": "basic"}},
        ["auth.client_auth: basic needs client_id in auth.data"],
    ),
    (
        {"request": REQUEST, "extract": [{"value_path": "body.id"}]},
        ["extract[0].target_schema_id: is required"],
    ),
    (
        {"request": REQUEST, "extract": [{"target_schema_id": "x"}]},
        ["extract[0]: needs exactly one of value_path, xml_path, regex"],
    ),
    (
        {"request": REQUEST, "extract": [{**EXTRACT, "value_path": "a", "regex": "b"}]},
        ["extract[0]: needs exactly one of value_path, xml_path, regex, not value_path and regex"],
    ),
    (
        {"request": REQUEST, "reply_rules": [{"when": "body.errors", "type": "fatal"}]},
        [
            "reply_rules[0].type: must be one of error, warning, info, not 'fatal'",
            "reply_rules[0].message: is required",
        ],
    ),
    (
        {"request": REQUEST, "reply_rules": [{**RULE, "detail": "body"}]},
        ["reply_rules[0].detail: unknown key (did you mean 'details'?)"],
    ),
    ({"request": REQUEST, "reply_rules": {"when": "x"}}, ["reply_rules: must be a list"]),
    ({"request": REQUEST, "iterate_over": ["line_item"]}, ["iterate_over: must be a string"]),
    ({"export_configs": []}, ["export_configs: must hold at least one export object"]),
    (
        {"export_configs": [{"request": REQUEST}, {"request": {**REQUEST, "method": 1}}]},
        ["export_configs[1].request.method: must be a string"],
    ),
    ({"export_configs": [{"request": REQUEST}], "request": REQUEST}, ["request: unknown key"]),
]

# Expressions whose syntax only their own parser knows: /validate checks them, the JSON
# Schema (which has no JMESPath, ElementTree path or Python regex grammar) cannot.
INVALID_EXPRESSIONS = [
    (
        {"request": REQUEST, "reply_rules": [{**RULE, "when": "body.errors["}]},
        ["reply_rules[0].when: is not a valid JMESPath expression (IncompleteExpressionError)"],
    ),
    (
        {"export_configs": [{"request": REQUEST, "reply_rules": [{**RULE, "details": "a b"}]}]},
        [
            "export_configs[0].reply_rules[0].details: "
            "is not a valid JMESPath expression (ParseError)"
        ],
    ),
    (
        {"request": REQUEST, "extract": [{**EXTRACT, "value_path": "body.["}]},
        ["extract[0].value_path: is not a valid JMESPath expression (IncompleteExpressionError)"],
    ),
    (
        {"request": REQUEST, "extract": [{**EXTRACT, "xml_path": "/Invoice/Id"}]},
        [
            "extract[0].xml_path: is not a valid ElementTree path "
            "(cannot use absolute path on element)"
        ],
    ),
    (
        {"request": REQUEST, "extract": [{**EXTRACT, "xml_path": "./a["}]},
        ["extract[0].xml_path: is not a valid ElementTree path"],
    ),
    (
        {"request": REQUEST, "extract": [{**EXTRACT, "xml_path": ""}]},
        ["extract[0].xml_path: must not be empty"],
    ),
    (
        {"request": REQUEST, "extract": [{**EXTRACT, "regex": "id=(\\d+"}]},
        [
            "extract[0].regex: is not a valid regular expression "
            "(missing ), unterminated subpattern at position 3)"
        ],
    ),
]


@pytest.mark.parametrize(("settings", "problems"), INVALID_SETTINGS + INVALID_EXPRESSIONS)
def test_invalid_settings_are_named_by_path(settings, problems):
    with pytest.raises(SettingsError) as raised:
        load_settings(settings)

    assert [str(problem) for problem in raised.value.problems] == problems


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as raised:
        load_settings({"request": {"url": 1, "method": 2, "headres": {}}, "mode": "x"})

    assert sorted(problem.path for problem in raised.value.problems) == [
        "mode",
        "request.headres",
        "request.method",
        "request.url",
    ]
