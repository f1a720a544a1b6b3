"""What an export does not spend time on: environment look-ups per call, disk spools for
small files, validating the same settings again."""

import itertools
import json
import tempfile

import pytest
import requests
import requests.sessions
from werkzeug.test import EnvironBuilder, run_wsgi_app

from app.errors import SettingsError
from app.pipeline.runtime import Runtime
from app.pipeline.sessions import ProxiedSession
from app.rossum import SPOOL_IN_MEMORY, StoredFile
from app.settings import _LoadedSettings, load_settings, load_settings_once
from tests.builders import simple_settings
from tests.conftest import CSV, EXPORT_KEY
from tests.servers import ServerThread, Target

LIMIT = 64 * 1024  # MAX_PAYLOAD_BYTES of the hook-route tests
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture
def proxy_environment(monkeypatch):
    """No proxy variable set, whatever the machine has; the test sets its own."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


@pytest.fixture
def environment_lookups(monkeypatch):
    """Counts requests' per-call look-ups of proxy variables and ~/.netrc."""
    calls = []
    for name in ("get_environ_proxies", "get_netrc_auth"):
        original = getattr(requests.sessions, name)

        def counted(*args, original=original, name=name, **kwargs):
            calls.append(name)
            return original(*args, **kwargs)

        monkeypatch.setattr(requests.sessions, name, counted)
    return calls


def export_through(app, payload) -> dict:
    """POST the payload to the app served for real, from a session without look-ups."""
    server = ServerThread(app).start()
    try:
        with requests.Session() as session:
            session.trust_env = False
            response = session.post(server.url, json=payload, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()
    finally:
        server.stop()


def test_no_proxy_alone_configures_no_proxy_and_no_per_call_lookups(
    proxy_environment, environment_lookups, make_app, payload_for, target
):
    proxy_environment.setenv("NO_PROXY", "localhost,.internal.example")
    app = make_app()
    session = app.extensions["runtime"].session("target")
    assert session.trust_env is False
    assert not isinstance(session, ProxiedSession)

    answer = export_through(app, payload_for(simple_settings(f"{target.url}/in")))

    assert answer["messages"][0]["type"] == "info", answer
    assert target.requests[0].body == CSV
    assert environment_lookups == []


@pytest.fixture
def proxy():
    """An HTTP proxy that answers every request itself, recording it."""
    recorder = Target()
    server = ServerThread(recorder).start()
    recorder.url = server.url
    yield recorder
    server.stop()


def test_a_configured_proxy_is_used_and_no_proxy_still_bypasses_it(
    proxy_environment, environment_lookups, make_app, payload_for, fake_rossum, proxy
):
    proxy_environment.setenv("HTTP_PROXY", proxy.url)
    proxy_environment.setenv("NO_PROXY", "127.0.0.1")  # the fake Rossum: reached directly
    app = make_app()
    assert app.extensions["runtime"].session("target").trust_env is False

    answer = export_through(app, payload_for(simple_settings("http://erp.invalid/in")))

    assert answer["messages"][0]["type"] == "info", answer
    [through_proxy] = proxy.requests  # the export request; no Rossum call
    assert through_proxy.headers["Host"] == "erp.invalid"
    assert (through_proxy.path, through_proxy.body) == ("/in", CSV)
    assert fake_rossum.calls_to("/api/v1/document_relations")
    assert environment_lookups == []


def test_proxies_are_read_when_the_runtime_is_built(proxy_environment):
    proxy_environment.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    runtime = Runtime({"ALLOW_PRIVATE_TARGETS": True})
    proxy_environment.delenv("HTTPS_PROXY")

    session = runtime.session("rossum")

    assert session.trust_env is False
    assert session.environment.proxies_for("https://erp.example.com/in") == {
        "https": "http://proxy.example:3128"
    }


def test_a_small_file_is_sent_from_memory_without_a_temporary_file(
    monkeypatch, tmp_path, make_app, payload_for, target
):
    app = make_app()
    # No temporary file can be made: a spool rolled to disk would fail the export.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "does-not-exist"))

    raw = export_through(app, payload_for(simple_settings(f"{target.url}/raw")))
    multipart = export_through(
        app,
        payload_for(
            {
                "export_reference_key": EXPORT_KEY,
                "request": {"url": f"{target.url}/mp", "file_key": "csv"},
            }
        ),
    )

    assert raw["messages"][0]["type"] == "info", raw
    assert multipart["messages"][0]["type"] == "info", multipart
    sent_raw, sent_multipart = target.requests
    assert sent_raw.body == CSV
    assert sent_raw.headers["Content-Length"] == str(len(CSV))
    assert "Transfer-Encoding" not in sent_raw.headers
    assert sent_multipart.files["csv"][2] == CSV


def test_only_small_files_become_bytes():
    small = StoredFile.from_bytes("a.csv", "text/csv", "u", None, b"x" * SPOOL_IN_MEMORY)
    large = StoredFile.from_bytes(
        "b.pdf", "application/pdf", "u", None, b"x" * (SPOOL_IN_MEMORY + 1)
    )

    assert small.body() == b"x" * SPOOL_IN_MEMORY
    streamed = large.body()
    assert not isinstance(streamed, bytes)
    assert streamed.read() == b"x" * (SPOOL_IN_MEMORY + 1)


def test_remembered_settings_load_as_a_fresh_load_does():
    settings = {
        "export_configs": [
            simple_settings("https://erp.example.com/a"),
            {"request": {"url": "https://erp.example.com/b", "headers": {"B": "2", "A": "1"}}},
        ]
    }

    first, again = load_settings_once(settings), load_settings_once(settings)

    assert first == again == load_settings(settings)
    first.pop()  # a caller's list is its own
    assert load_settings_once(settings) == load_settings(settings)
    reordered = {"export_configs": [settings["export_configs"][1]]}
    reordered["export_configs"][0] = {
        "request": {"url": "https://erp.example.com/b", "headers": {"A": "1", "B": "2"}}
    }
    [export] = load_settings_once(reordered)
    assert list(export.request.headers) == ["A", "B"]  # not the remembered order


def test_remembered_settings_are_bounded_and_invalid_ones_still_refused():
    loaded = _LoadedSettings(size=3)
    for n in range(5):
        loaded({"request": {"url": f"https://erp.example.com/{n}"}})

    assert len(loaded.loaded) == 3
    [export] = loaded({"request": {"url": "https://x.example"}})
    assert export.request.url == "https://x.example"
    assert len(loaded.loaded) == 3
    for _ in range(2):
        with pytest.raises(SettingsError, match="request.methd"):
            loaded({"request": {"url": "https://x.example", "methd": "POST"}})
    assert len(loaded.loaded) == 3


def call(wsgi, path: str, body: bytes, headers: dict, chunked: bool) -> tuple:
    """One POST straight to a WSGI callable: (status, headers that matter, body)."""
    environ = EnvironBuilder(
        method="POST", path=path, data=body, content_type="application/json", headers=headers
    ).get_environ()
    if chunked:  # as gunicorn passes a chunked body on: no length, the stream ends itself
        del environ["CONTENT_LENGTH"]
        environ["wsgi.input_terminated"] = True
    answer, status, response_headers = run_wsgi_app(wsgi, environ, buffered=True)
    kept = {n: v for n, v in response_headers.items() if n in ("Content-Type", "Location")}
    return status, kept, b"".join(answer)


def test_hook_calls_are_answered_as_flask_answers_them(make_app, payload_for, target):
    app = make_app(MAX_PAYLOAD_BYTES=LIMIT, HOOK_SECRET="")
    signed = make_app(MAX_PAYLOAD_BYTES=LIMIT, HOOK_SECRET="s3cret-value")
    paths = itertools.count()

    def export() -> bytes:  # a new export each time: none is answered as a duplicate
        return json.dumps(payload_for(simple_settings(f"{target.url}/in/{next(paths)}"))).encode()

    cases = {
        "an export": (app, export, {}, False, "200 OK"),
        "another event": (
            app,
            lambda: b'{"event": "email", "action": "received"}',
            {},
            False,
            "200 OK",
        ),
        "not JSON": (app, lambda: b"{", {}, False, "400 BAD REQUEST"),
        "invalid payload": (
            app,
            lambda: b'{"event": "annotation_content", "action": "export"}',
            {},
            False,
            "400 BAD REQUEST",
        ),
        "too large": (app, lambda: b" " * (LIMIT + 1), {}, False, "413 REQUEST ENTITY TOO LARGE"),
        "too large, chunked": (
            app,
            lambda: b" " * (LIMIT + 1),
            {},
            True,
            "413 REQUEST ENTITY TOO LARGE",
        ),
        "not signed": (
            signed,
            export,
            {"X-Rossum-Signature-SHA256": "sha256=00"},
            False,
            "401 UNAUTHORIZED",
        ),
    }
    for name, (served, body, headers, chunked, expected) in cases.items():
        answers = [
            call(wsgi, path, body(), headers, chunked)
            for wsgi in (served.wsgi_app, served.wsgi_app.flask_wsgi)  # ours, then Flask's own
            for path in ("/", "/export")
        ]
        assert len(set(map(repr, answers))) == 1, (name, answers)
        status, response_headers, content = answers[0]
        assert status.upper() == expected, (name, answers[0])
        assert response_headers == {"Content-Type": "application/json"}
        assert set(json.loads(content)) == {"messages", "operations"}
    assert len(target.requests) == 4


REQUEST_VARIANTS = [
    {"params": {"type": "export", "annotation": 123, "key": "csv ü&="}},
    {"params": None},
    {"params": [("a", "1"), ("a", "2")]},
    {"params": {"a": ["x", "y"], "b": None}},
    {"params": "raw=1&b"},
    {"headers": None},
    {"headers": {"User-Agent": None, "Accept": "text/csv", "Authorization": "Bearer t"}},
    {"hooks": {"response": [lambda response, **kwargs: response]}},
    {"method": "post", "data": b"body", "headers": {"Content-Type": "text/csv"}},
    {"method": "POST", "data": {"field": "value"}},
    {"method": "PATCH", "json": {"metadata": {"k": "v"}}},
    {"method": "POST", "files": {"file": ("a.csv", b"x,y\n", "text/csv")}},
]


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
@pytest.mark.parametrize("session_hooks", [False, True])
def test_calls_are_prepared_as_requests_prepares_them(proxy_environment, variant, session_hooks):
    ours = Runtime({"ALLOW_PRIVATE_TARGETS": True}).proxy_environment.session()
    theirs = requests.Session()
    theirs.trust_env = False
    for session in (ours, theirs):
        if session_hooks:
            session.hooks["response"].append(print)
    fields = {"method": "GET", "url": "https://api.example.com/in?x=1", **variant}

    mine, expected = (s.prepare_request(requests.Request(**fields)) for s in (ours, theirs))

    def headers(prepared):  # a multipart boundary is random
        return {n: v.split("boundary=")[0] for n, v in prepared.headers.items()}

    assert mine.method == expected.method and mine.url == expected.url
    assert headers(mine) == headers(expected)
    assert mine.hooks == expected.hooks
    if not variant.get("files"):
        assert mine.body == expected.body
    assert ours.merge_environment_settings(mine.url, {}, None, None, None) == dict(
        theirs.merge_environment_settings(expected.url, {}, None, None, None)
    ) | {"proxies": {}}


def test_a_change_to_an_export_record_is_one_statement(tmp_path):
    from app.state import DELIVERED, SENT, open_store

    store = open_store(f"sqlite:///{tmp_path}/state.sqlite3")
    store.get("warm")  # opens the file and creates the tables
    statements = []
    store.connection().set_trace_callback(statements.append)

    assert store.claim("k", "one", lease_s=60, state=SENT, ttl_s=60).acquired
    store.advance("k", "one", DELIVERED, 0, 60, {"messages": [], "operations": []})
    store.release("other", "one")

    assert len(statements) == 3, statements
    assert not any(s.split()[0].upper() in ("BEGIN", "COMMIT") for s in statements)
    assert store.get("k").state == DELIVERED


POLL_CHECK = """
from gevent import monkey; monkey.patch_all()
import socket, greenlet
from urllib3.connection import HTTPConnection
from app.pooled_connections import PromptLivenessMixin

class Connection(PromptLivenessMixin, HTTPConnection):
    pass

switches = []
listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen()
connection = Connection("127.0.0.1", listener.getsockname()[1]); connection.connect()
peer, _ = listener.accept()
greenlet.settrace(lambda event, args: switches.append(event))
open_now = connection.is_connected
greenlet.settrace(None)
peer.close()
import time; time.sleep(0.2)
print(open_now, connection.is_connected, len(switches))
"""


def test_a_kept_alive_connection_is_checked_without_yielding_to_the_event_loop():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", POLL_CHECK], capture_output=True, text=True, timeout=60, check=True
    )

    # Open while the peer keeps it; dropped once the peer closed it; no switch to the hub.
    assert result.stdout.split() == ["True", "False", "0"], result.stderr


def test_a_serving_process_keeps_its_startup_objects_out_of_garbage_collection(tmp_path):
    import subprocess
    import sys

    check = "import gc, wsgi; print(gc.get_freeze_count() > 10_000, gc.get_threshold()[0])"
    result = subprocess.run(
        [sys.executable, "-c", check],
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "STATE_URL": f"sqlite:///{tmp_path}/state.sqlite3"},
    )

    assert result.stdout.split() == ["True", "10000"], result.stderr
