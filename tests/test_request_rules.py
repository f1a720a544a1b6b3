"""Requests that cannot be sent are export errors that say why, never 500s (SPEC §5, §11)."""

import ssl
import subprocess
import threading

import pytest
from werkzeug.serving import make_server

from tests.builders import simple_settings


def first_message(client, payload) -> dict:
    response = client.post("/", json=payload)
    assert response.status_code == 200, response.json
    [message] = response.json["messages"]
    return message


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://[::1", "cannot be parsed (Invalid IPv6 URL)"),
        ("http://a..b/", "has an empty label in its host name 'a..b'"),
        ("http://.example.com/", "has an empty label in its host name '.example.com'"),
        ("http://example.com:99999/", "cannot be parsed (Port out of range 0-65535)"),
        ("http://exa mple.com/", "has a space in its host name 'exa mple.com'"),
        ("http://example.com/a\nb", "holds a control character (U+000A at position 20)"),
        ("http://:80/", "has no host"),
        ("ftp://example.com/", "does not give an http(s) URL"),
        (
            f"http://{'a' * 64}.com/",
            f"has a host name that cannot be encoded (IDNA): '{'a' * 64}.com'",
        ),
    ],
)
def test_a_url_that_cannot_be_sent_to_fails_the_export_saying_why(
    client, payload_for, target, url, problem
):
    message = first_message(client, payload_for(simple_settings(url)))

    assert message == {
        "type": "error",
        "content": f"Export failed (template): request.url: {url!r} {problem}",
    }
    assert target.requests == []


@pytest.mark.parametrize(
    ("header", "datapoint_value", "problem"),
    [
        ("X-Note", "5 €", "its value has a character outside ISO-8859-1 (U+20AC at position 2)"),
        ("X-Note", "ok 😀", "its value has a character outside ISO-8859-1 (U+1F600 at position 3)"),
        (
            "X-Note",
            "a\x00b",
            "its value has a control character (U+0000 at position 1); it cannot be sent as HTTP",
        ),
        (
            "X-Note",
            "a\r\nX-Injected: 1",
            "its value has a control character (U+000D at position 1); it cannot be sent as HTTP",
        ),
        ("X Note", "fine", "its name is not a valid HTTP header name"),
    ],
)
def test_a_header_that_cannot_be_sent_fails_the_export_naming_it(
    client, payload_for, target, header, datapoint_value, problem
):
    payload = payload_for(simple_settings(f"{target.url}/in", headers={header: "@{note}"}))
    payload["annotation"]["content"][0]["children"].append(
        {
            "category": "datapoint",
            "schema_id": "note",
            "id": 1,
            "content": {"value": datapoint_value},
        }
    )

    message = first_message(client, payload)

    assert message == {
        "type": "error",
        "content": f"Export failed (template): request.headers.{header}: {problem}; "
        "nothing was sent",
    }
    assert target.requests == []


def test_latin_1_text_and_tabs_in_header_values_are_sent(client, payload_for, target):
    target.reply_with(200)
    settings = simple_settings(f"{target.url}/in", headers={"X-Note": "Müller\tGmbH ©"})

    message = first_message(client, payload_for(settings))

    assert message["type"] == "info", message
    assert target.requests[0].headers["X-Note"] == "Müller\tGmbH ©"


def test_a_header_from_settings_is_checked_too(client, payload_for, target):
    settings = simple_settings(f"{target.url}/in", headers={"X-Note": "Zürich ☃"})

    message = first_message(client, payload_for(settings))

    assert message["content"] == (
        "Export failed (template): request.headers.X-Note: its value has a character outside "
        "ISO-8859-1 (U+2603 at position 7); nothing was sent"
    )


def test_https_to_a_plain_http_port_fails_the_export_saying_so(client, payload_for, target):
    url = target.url.replace("http://", "https://") + "/in"

    message = first_message(client, payload_for(simple_settings(url)))

    host = target.url.removeprefix("http://")
    assert message == {
        "type": "error",
        "content": f"Export failed (target): POST {host} failed: TLS handshake failed: "
        "the port does not answer in TLS (is it plain http://?)",
    }


@pytest.fixture
def tls_target(tmp_path):
    """A TLS server with a self-signed certificate (not trusted by anyone)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = make_server("127.0.0.1", 0, lambda e, s: [], threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_an_untrusted_certificate_fails_the_export_saying_so(client, payload_for, tls_target):
    message = first_message(client, payload_for(simple_settings(f"{tls_target}/in")))

    host = tls_target.removeprefix("https://")
    assert message == {
        "type": "error",
        "content": f"Export failed (target): POST {host} failed: TLS error: the target's "
        "certificate is not trusted (self-signed certificate)",
    }
