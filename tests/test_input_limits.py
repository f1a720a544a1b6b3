"""Hostile JSON (SPEC §11): too deep, lone surrogates, control characters — a 4xx naming
where, or an export error naming the field; never a 5xx."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.builders import build_payload, simple_settings

DEEP = {"a": None}
for _ in range(150):
    DEEP = {"a": DEEP}
DEEP_PATH = ".".join(["a"] * 100)


def nested_text(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("path", ["/", "/export", "/preview"])
@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (json.dumps(DEEP), f"{DEEP_PATH}: is nested deeper than 100 levels"),
        (nested_text(5000), "the body is nested deeper than 100 levels"),
        (nested_text(101), f"{'[0]' * 100}: is nested deeper than 100 levels"),
        (
            '{"event": "\\ud800"}',
            "event: holds text that cannot be encoded (a lone UTF-16 surrogate)",
        ),
        (
            '{"\\udfff": 1}',
            "the body has a key that holds text that cannot be encoded (a lone UTF-16 surrogate)",
        ),
    ],
)
def test_hostile_json_bodies_are_400_naming_where(client, path, body, problem):
    response = client.post(path, data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.json["messages"] == [
        {"type": "error", "content": f"Invalid hook payload: {problem}"}
    ]


def test_a_body_nested_exactly_100_levels_is_parsed(client):
    response = client.post("/", data=nested_text(100), content_type="application/json")

    assert response.json["messages"] == [
        {"type": "error", "content": "Invalid hook payload: must be a JSON object, not an array"}
    ]


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        (nested_text(5000), "", "the body is nested deeper than 100 levels"),
        (
            json.dumps({"request": {"url": "http://x/", "content": DEEP}}),
            "request.content" + ".a" * 98,
            "is nested deeper than 100 levels",
        ),
        (
            '{"request": {"url": "http://x/\\ud800"}}',
            "request.url",
            "holds text that cannot be encoded (a lone UTF-16 surrogate)",
        ),
        ("not json", "", "the body is not valid JSON"),
    ],
)
def test_validate_answers_hostile_settings_with_a_settings_error(client, body, path, message):
    response = client.post("/validate", data=body, content_type="application/json")

    assert response.status_code == 422
    assert response.json == {"valid": False, "errors": [{"path": path, "message": message}]}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda p: p["settings"]["request"].update(content=DEEP),
            "settings.request.content" + ".a" * 97 + ": is nested deeper than 100 levels",
        ),
        (
            lambda p: p["settings"]["request"].update(url="http://x/\ud800"),
            "settings.request.url: holds text that cannot be encoded (a lone UTF-16 surrogate)",
        ),
        (
            lambda p: p.update(hook=p["hook"] + "\udc00"),
            "hook: holds text that cannot be encoded (a lone UTF-16 surrogate)",
        ),
        (
            lambda p: p["annotation"]["content"][0]["children"][0]["content"].update(
                value="\ud83d"
            ),
            "annotation.content[0].children[0].content.value: "
            "holds text that cannot be encoded (a lone UTF-16 surrogate)",
        ),
    ],
)
def test_hostile_values_in_a_hook_call_are_400_naming_the_field(
    client, payload_for, target, change, problem
):
    payload = payload_for(simple_settings(f"{target.url}/in"))
    change(payload)

    response = client.post("/", data=json.dumps(payload), content_type="application/json")

    assert response.status_code == 400
    assert response.json["messages"] == [
        {"type": "error", "content": f"Invalid hook payload: {problem}"}
    ]
    assert target.requests == []


hostile_text = st.text(
    st.characters(codec=None, exclude_categories=()) | st.sampled_from("\x00\r\n\ud800\udfff€😀"),
    max_size=12,
)
hostile_json = st.recursive(
    st.none() | st.integers() | hostile_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(hostile_text, children, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = [
    ("hook",),
    ("base_url",),
    ("settings", "request", "url"),
    ("settings", "request", "headers", "X-Note"),
    ("settings", "request", "content"),
    ("settings", "request", "method"),
    ("secrets", "client_id"),
    ("annotation", "url"),
    ("annotation", "content", 0, "children", 0, "content", "value"),
]


def put(payload, path, value):
    *parents, last = path
    for step in parents:
        payload = payload[step]
    payload[last] = value


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    route=st.sampled_from(["/", "/preview", "/validate"]),
    field=st.sampled_from(FIELDS),
    value=hostile_json,
    depth=st.sampled_from([0, 0, 99, 101, 2000]),
)
def test_hostile_values_anywhere_never_5xx(make_app, fake_rossum, route, field, value, depth):
    client = make_app(ALLOW_PRIVATE_TARGETS=False).test_client()
    payload = build_payload(simple_settings("http://10.255.255.1/x"), base_url=fake_rossum.url)
    put(payload, field, "<value>")
    body = json.dumps(payload["settings"] if route == "/validate" else payload)
    body = body.replace('"<value>"', "[" * depth + json.dumps(value) + "]" * depth)

    response = client.post(route, data=body, content_type="application/json")

    assert response.status_code < 500, response.get_data(as_text=True)
    answer = response.json
    if "errors" in answer:  # a settings error: /validate, /preview
        assert all(problem["message"] for problem in answer["errors"])
    elif response.status_code != 200 or route == "/":
        assert all(message["content"] for message in answer["messages"])
        assert response.status_code == 200 or answer["messages"][0]["type"] == "error"
