"""Property-based: whatever is posted, the answer is never a 5xx and always SPEC §2's shape."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.builders import build_payload, simple_settings

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

SETTINGS_KEYS = [
    "request",
    "auth",
    "condition",
    "mode",
    "export_reference_key",
    "status_code_resolver",
    "extract",
    "deduplicate",
    "export_configs",
    "url",
    "method",
    "headers",
    "content",
    "data",
    "file_key",
    "file_name",
    "file_content",
    "request_data",
    "error",
    "warning",
]
# Only addresses that are refused before anything is sent.
URLS = ["http://10.255.255.1/x", "https://169.254.169.254/", "http://[::1]:9/", "", "x"]
settings_values = st.recursive(
    json_scalars
    | st.sampled_from(URLS)
    | st.sampled_from(["@{document_id}", "#{file_content}", "{secret.client_id}", "POST"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(SETTINGS_KEYS), children, max_size=4)
    ),
    max_leaves=10,
)

SHAPE_KEYS = {"messages", "operations"}
fuzz = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def assert_spec_shape(response):
    assert response.status_code < 500, response.get_data(as_text=True)
    body = response.json
    assert set(body) == SHAPE_KEYS
    assert isinstance(body["operations"], list)
    for message in body["messages"]:
        assert message["type"] in ("error", "warning", "info")
        assert isinstance(message["content"], str)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=json_values)
def test_arbitrary_json_bodies(make_app, body):
    client = make_app(ALLOW_PRIVATE_TARGETS=False).test_client()

    assert_spec_shape(client.post("/", json=body))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    payload_changes=st.dictionaries(
        st.sampled_from(
            [
                "event",
                "base_url",
                "hook",
                "settings",
                "secrets",
                "annotation",
                "document",
                "rossum_authorization_token",
                "request_id",
            ]
        ),
        json_values,
        max_size=3,
    )
)
def test_arbitrary_payload_fields(make_app, fake_rossum, payload_changes):
    client = make_app(ALLOW_PRIVATE_TARGETS=False).test_client()
    settings_ = simple_settings(URLS[0])  # never a name to resolve, nothing ever sent
    payload = {**build_payload(settings_, base_url=fake_rossum.url), **payload_changes}

    assert_spec_shape(client.post("/", json=payload))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(hook_settings=settings_values)
def test_arbitrary_settings_shapes(make_app, fake_rossum, hook_settings):
    client = make_app(ALLOW_PRIVATE_TARGETS=False).test_client()
    payload = build_payload(hook_settings, base_url=fake_rossum.url)

    assert_spec_shape(client.post("/", json=payload))
