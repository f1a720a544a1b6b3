"""Preview warns about what the real export would refuse, and `flask preview` fails on it."""

import json

import pytest

from tests.builders import build_payload, simple_settings
from tests.processes import free_port


@pytest.fixture
def guarded(make_app):
    """The service as deployed: private and loopback targets refused."""
    return make_app(ALLOW_PRIVATE_TARGETS=False)


@pytest.mark.parametrize(
    ("host", "address"),
    [("127.0.0.1", "127.0.0.1"), ("localhost", "127.0.0.1"), ("[::ffff:127.0.0.1]", "127.0.0.1")],
)
def test_preview_warns_about_the_target_address_the_export_refuses(
    guarded, payload_for, target, host, address
):
    port = target.url.rsplit(":", 1)[1]
    payload = payload_for(simple_settings(f"http://{host}:{port}/in"))
    client = guarded.test_client()

    [preview] = client.post("/preview", json=payload).json["requests"]
    [export] = client.post("/", json=payload).json["messages"]

    bare_host = host.strip("[]")
    assert preview["warnings"] == [
        f"request.url: the export would be refused: {bare_host} resolves to {address}, which is "
        "not a public address (ALLOW_PRIVATE_TARGETS is off)"
    ]
    assert export["type"] == "error" and f"resolves to {address}" in export["content"]
    assert target.requests == []


def test_preview_warns_about_the_token_endpoint_and_an_unknown_host(guarded, payload_for, target):
    settings = {
        **simple_settings("https://erp.invalid/in"),
        "auth": {"url": f"{target.url}/token", "data": {"grant_type": "client_credentials"}},
    }

    [preview] = guarded.test_client().post("/preview", json=payload_for(settings)).json["requests"]

    assert preview["warnings"] == [
        "request.url: the export would fail: the host name 'erp.invalid' could not be resolved",
        "auth.url: the export would be refused: 127.0.0.1 resolves to 127.0.0.1, which is not a "
        "public address (ALLOW_PRIVATE_TARGETS is off)",
    ]
    assert target.requests == []


def test_no_warning_where_private_targets_are_allowed(client, payload_for, target):
    [preview] = client.post("/preview", json=payload_for(simple_settings(f"{target.url}/in"))).json[
        "requests"
    ]

    assert "warnings" not in preview


@pytest.fixture
def preview_cli(tmp_path):
    """Run `flask preview` on a payload; returns (exit code, stdout, stderr)."""

    def run(app, payload):
        path = tmp_path / "payload.json"
        path.write_text(json.dumps(payload))
        result = app.test_cli_runner().invoke(args=["preview", str(path)])
        return result.exit_code, result.stdout, result.stderr

    return run


def test_cli_preview_fails_on_a_target_the_export_refuses(
    guarded, payload_for, target, preview_cli
):
    code, out, err = preview_cli(guarded, payload_for(simple_settings(f"{target.url}/in")))

    assert code == 1
    assert json.loads(out)["requests"][0]["url"] == f"{target.url}/in"  # still shown
    assert err == (
        "the export would fail: request.url: the export would be refused: 127.0.0.1 resolves to "
        "127.0.0.1, which is not a public address (ALLOW_PRIVATE_TARGETS is off)\n"
    )
    assert target.requests == []


def test_cli_preview_fails_on_a_missing_secret_or_datapoint(app, payload_for, target, preview_cli):
    settings = {
        "export_configs": [
            simple_settings(f"{target.url}/in?k={{secret.api_key}}"),
            simple_settings(f"{target.url}/in", content="@{no_such_field}"),
            simple_settings(f"{target.url}/in"),
        ]
    }

    code, out, err = preview_cli(app, payload_for(settings))

    assert code == 1
    assert err.splitlines() == [
        "export_configs[0] would fail: template: request.url: secret 'api_key' "
        "({secret.api_key}) is not set in the hook's secrets",
        "export_configs[1] would fail: template: request.content: datapoint 'no_such_field' "
        "(@{no_such_field}) is not in the annotation",
    ]
    assert "error" not in json.loads(out)["requests"][2]


def test_cli_preview_fails_when_rossum_cannot_be_reached(make_app, target, preview_cli):
    closed = f"http://127.0.0.1:{free_port()}"
    app = make_app(ALLOWED_ROSSUM_HOSTS=closed)
    payload = build_payload(simple_settings(f"{target.url}/in"), base_url=closed)
    code, out, err = preview_cli(app, payload)

    assert code == 1
    assert (
        "could not look up the export document relation" in json.loads(out)["requests"][0]["error"]
    )
    assert err.startswith("the export would fail: Rossum API: could not look up")


def test_cli_preview_refuses_a_rossum_host_not_allowed(app, target, preview_cli):
    payload = build_payload(
        simple_settings(f"{target.url}/in"), base_url="https://rossum.evil.test"
    )
    code, out, err = preview_cli(app, payload)

    assert code == 1
    assert out == ""
    assert "base_url 'https://rossum.evil.test' is not an allowed Rossum host" in err
