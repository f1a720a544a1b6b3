"""The long-lived HTTP sessions: behind a proxy, across threads, without cookies or ~/.netrc.

Exports run under a real WSGI server (a thread per hook call) and are sent from the job
pool's threads, as deployed; the proxy is a local HTTP forward proxy that answers the
absolute-URI requests it gets itself (plain http, no CONNECT).
"""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.deadlines import DeadlineConnectionMixin
from app.pipeline.delivery import OutgoingRequest
from app.pipeline.progress import ReportingConnection
from app.pipeline.retries import RetryPolicy
from app.pipeline.runtime import Runtime
from tests.builders import SECRETS, simple_settings
from tests.conftest import CSV
from tests.servers import MisbehavingTarget, ServerThread, TokenEndpoint
from tests.test_oauth import (  # noqa: F401 - token_endpoint: a fixture
    CLIENT_CREDENTIALS,
    seed_client_credentials,
    token_endpoint,
)
from tests.test_overhead import export_through, proxy, proxy_environment  # noqa: F401

DEADLINE_S = 2.0
MARGIN_S = 8.0  # a loaded 2-core machine


@pytest.fixture
def dripping_proxy():
    """A proxy that sends the status line and headers, then the body a byte a second."""
    server = MisbehavingTarget("drip_after").start()
    yield server
    server.stop()


def test_every_export_through_a_proxy_is_sent(
    proxy_environment,  # noqa: F811
    make_app,
    payload_for,
    proxy,  # noqa: F811
):
    proxy_environment.setenv("HTTP_PROXY", proxy.url)
    proxy_environment.setenv("NO_PROXY", "127.0.0.1")  # the fake Rossum: reached directly
    app = make_app(JOB_THREADS=1)  # every send on the same thread, so on the same session

    answers = [
        export_through(app, payload_for(simple_settings(f"http://erp.invalid/in/{n}")))
        for n in range(3)
    ]

    assert [a["messages"][0]["type"] for a in answers] == ["info"] * 3, answers
    assert [(r.path, r.body) for r in proxy.requests] == [(f"/in/{n}", CSV) for n in range(3)]


def test_proxy_connections_have_the_answer_deadline_and_report_progress(proxy_environment):  # noqa: F811
    proxy_environment.setenv("HTTP_PROXY", "http://proxy.example:3128")
    runtime = Runtime({"ALLOW_PRIVATE_TARGETS": False})
    for kind in ("target", "target"):  # a session made again leaves the first as it was
        adapter = runtime.session(kind).get_adapter("http://erp.example.com/")
        for _ in range(3):  # requests asks for the (cached) proxy manager on every call
            manager = adapter.proxy_manager_for("http://proxy.example:3128")
            for pool_class in manager.pool_classes_by_scheme.values():
                connection = pool_class.ConnectionCls
                assert issubclass(connection, ReportingConnection)
                assert issubclass(connection, DeadlineConnectionMixin)
                # Progress on top of the deadline: the deadline is armed before the wait.
                mro = connection.__mro__
                assert mro.index(ReportingConnection) < mro.index(DeadlineConnectionMixin)


def test_a_reply_dripping_through_a_proxy_is_cut_off_at_the_deadline(
    proxy_environment,  # noqa: F811
    make_app,
    payload_for,
    dripping_proxy,
):
    proxy_environment.setenv("HTTP_PROXY", dripping_proxy.url)
    proxy_environment.setenv("NO_PROXY", "127.0.0.1")
    app = make_app(TARGET_READ_TIMEOUT_S=DEADLINE_S)

    started = time.monotonic()
    answer = export_through(app, payload_for(simple_settings("http://erp.invalid/in")))

    assert answer["messages"][1:] == [
        {
            "type": "warning",
            "content": f"The reply's body did not arrive whole within {DEADLINE_S:g} s; "
            "it was ignored.",
        }
    ], answer
    assert time.monotonic() - started < DEADLINE_S + MARGIN_S
    assert dripping_proxy.paths == ["http://erp.invalid/in"]


def test_a_token_endpoint_dripping_through_a_proxy_is_cut_off_at_the_deadline(
    proxy_environment,  # noqa: F811
    make_app,
    payload_for,
    target,
):
    dripping = MisbehavingTarget("drip_before").start()
    try:
        proxy_environment.setenv("HTTP_PROXY", dripping.url)
        proxy_environment.setenv("NO_PROXY", "127.0.0.1")
        app = make_app(TARGET_READ_TIMEOUT_S=DEADLINE_S)
        settings = seed_client_credentials("http://login.invalid/oauth/token", f"{target.url}/in")

        started = time.monotonic()
        answer = export_through(app, payload_for(settings, secrets=SECRETS))

        assert answer["messages"] == [
            {
                "type": "error",
                "content": "Export failed (token): the token request to login.invalid failed: "
                "no answer in time",
            }
        ]
        assert time.monotonic() - started < DEADLINE_S + MARGIN_S
        assert dripping.paths == ["http://login.invalid/oauth/token"]
        assert target.requests == []
    finally:
        dripping.stop()


class KeepAliveTarget(BaseHTTPRequestHandler):
    """Answers 200 on a kept-alive HTTP/1.1 connection; records each request's client port."""

    protocol_version = "HTTP/1.1"
    seen: list = []  # (path, client port), set per server

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.seen.append((self.path, self.client_address[1]))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def keep_alive_target():
    handler = type("Handler", (KeepAliveTarget,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}"
    server.seen = handler.seen
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_exports_prepared_by_different_hook_calls_reuse_the_sending_threads_connection(
    make_app, payload_for, keep_alive_target
):
    app = make_app(JOB_THREADS=1)  # each hook call is prepared on a server thread of its own

    for n in range(2):
        url = f"{keep_alive_target.url}/in/{n}"
        answer = export_through(app, payload_for(simple_settings(url)))
        assert answer["messages"][0]["type"] == "info", answer

    [(first, port), (second, same_port)] = keep_alive_target.seen
    assert (first, second) == ("/in/0", "/in/1")
    assert port == same_port  # one kept-alive connection: the job thread's session sent both


def test_a_delivery_sends_on_the_session_of_the_thread_that_sends(target):
    runtime = Runtime({"ALLOW_PRIVATE_TARGETS": True, "MAX_REPLY_BYTES": 1024})
    delivery = runtime.delivery()  # made here, as an export is prepared on the hook's thread
    here = runtime.session("target")
    retries_here = [adapter.max_retries for adapter in here.adapters.values()]
    policy = RetryPolicy(
        retry=True,
        resend_allowed=True,
        connect_timeout=2,
        read_timeout=5,
        budget_s=5,
        backoff_s=0,
    )
    sent = {}

    def send():
        sent["reply"] = delivery.send(OutgoingRequest("POST", f"{target.url}/in"), policy)
        sent["session"] = runtime.session("target")

    sender = threading.Thread(target=send)
    sender.start()
    sender.join(timeout=30)

    assert sent["reply"].status_code == 200
    assert sent["session"] is not here
    # The sending thread's retries went on its own session; this thread's kept its own.
    assert [adapter.max_retries for adapter in here.adapters.values()] == retries_here


def test_a_cookie_one_export_is_given_is_not_sent_with_the_next(make_app, payload_for, target):
    target.reply_with(headers={"Set-Cookie": "customer=a-secret-value; Path=/"})
    app = make_app(JOB_THREADS=1)  # both sends on the same session

    first = export_through(app, payload_for(simple_settings(f"{target.url}/a")))
    second = export_through(
        app, payload_for(simple_settings(f"{target.url}/b"), secrets={"other": "b"})
    )

    assert first["messages"][0]["type"] == second["messages"][0]["type"] == "info"
    assert [r.path for r in target.requests] == ["/a", "/b"]
    assert "Cookie" not in target.requests[1].headers


@pytest.mark.parametrize("kind", ["target", "rossum"])
def test_no_session_keeps_a_cookie(target, kind):
    session = Runtime({"ALLOW_PRIVATE_TARGETS": True}).session(kind)
    target.reply_with(headers={"Set-Cookie": "customer=a-secret-value; Path=/"})

    session.get(f"{target.url}/a", timeout=10)
    session.get(f"{target.url}/b", timeout=10)

    assert "Cookie" not in target.requests[1].headers
    assert len(session.cookies) == 0


@pytest.fixture
def home_with_netrc(monkeypatch, tmp_path):
    """A ~/.netrc with credentials for the loopback hosts the tests serve on."""
    (tmp_path / ".netrc").write_text(
        "machine 127.0.0.1 login netrc-user password netrc-password\n"
        "machine login.invalid login netrc-user password netrc-password\n"
    )
    (tmp_path / ".netrc").chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NETRC", raising=False)
    return tmp_path


@pytest.mark.parametrize("grant_type", ["client_credentials", "api_key"])
def test_token_requests_carry_no_netrc_credentials(
    home_with_netrc, make_app, payload_for, target, grant_type
):
    required = {**CLIENT_CREDENTIALS, "grant_type": grant_type}
    endpoint = TokenEndpoint(required=required)
    server = ServerThread(endpoint).start()
    try:
        settings = seed_client_credentials(f"{server.url}/oauth/token", f"{target.url}/in")
        settings["auth"]["data"]["grant_type"] = grant_type
        app = make_app()

        answer = export_through(app, payload_for(settings, secrets=SECRETS))

        assert answer["messages"][0]["type"] == "info", answer
        [token_request] = endpoint.requests
        assert "Authorization" not in token_request.headers
        assert target.requests[0].headers["Authorization"] == "Bearer token-1"
    finally:
        server.stop()


def test_token_requests_go_through_the_proxy_read_at_start_and_no_proxy_still_bypasses_it(
    proxy_environment,  # noqa: F811
    make_app,
    payload_for,
    token_endpoint,  # noqa: F811
    target,
):
    proxy_environment.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    proxy_environment.setenv("NO_PROXY", "127.0.0.1")
    app = make_app()
    proxy_environment.delenv("NO_PROXY")  # read at start: later changes change nothing
    settings = seed_client_credentials(token_endpoint.url, f"{target.url}/in")

    answer = export_through(app, payload_for(settings, secrets=SECRETS))

    assert answer["messages"][0]["type"] == "info", answer
    assert len(token_endpoint.requests) == 1
    assert target.requests[0].headers["Authorization"] == "Bearer token-1"
