import os

import pytest
import requests

from app import create_app, tokens
from tests.builders import ANNOTATION_ID, ORIGINAL_DOCUMENT_ID, build_payload
from tests.processes import Processes
from tests.servers import FakeRossum, ServerThread, Target

ROSSUM_TOKEN = "1024873d424a007d8eebff7b3684d283abdf7d0d"
EXPORT_KEY = "export_annotation_to_csv"
CSV = b"document_id,amount_total\nINV-2024-0042,1234.50\n"
PDF = b"%PDF-1.7\n" + bytes(range(256)) + b"\n%%EOF\n"

TEST_CONFIG = {
    "TESTING": True,
    "ROSSUM_TIMEOUT_S": 5.0,
    "ROSSUM_RETRY_AFTER_MAX_S": 1.0,
    "TARGET_CONNECT_TIMEOUT_S": 2.0,
    "TARGET_READ_TIMEOUT_S": 5.0,
    "RETRY_CONNECT_TIMEOUT_S": 1.0,
    "RETRY_READ_TIMEOUT_S": 2.0,
    "RETRY_BACKOFF_S": 0.05,
    "RETRY_BUDGET_S": 10.0,
    "DEDUP_WAIT_S": 5.0,
    # Tests export to servers on the loopback interface.
    "ALLOW_PRIVATE_TARGETS": True,
}


@pytest.fixture
def state_url(tmp_path):
    """A state store of the test's own."""
    return f"sqlite:///{tmp_path}/state.sqlite3"


@pytest.fixture
def make_app(fake_rossum, state_url):
    """Build the app with config overrides; the fake Rossum's http host is allowed."""
    fake_host = fake_rossum.url.removeprefix("http://")

    made = []

    def make(**overrides):
        allowed = f"*.rossum.app,*.rossum.ai,http://{fake_host}"
        config = {"ALLOWED_ROSSUM_HOSTS": allowed, "STATE_URL": state_url}
        made.append(create_app({**TEST_CONFIG, **config, **overrides}))
        return made[-1]

    yield make
    for app in made:  # background exports finish, heartbeats stop
        app.extensions["jobs"].shutdown()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def fake_rossum():
    """A served fake Rossum holding the fixture annotation's files and content."""
    rossum = FakeRossum(ROSSUM_TOKEN)
    server = ServerThread(rossum).start()
    rossum.url = server.url
    rossum.add_export_document(ANNOTATION_ID, EXPORT_KEY, CSV)
    rossum.add_document(PDF, "application/pdf", "invoice 0042.pdf", id=ORIGINAL_DOCUMENT_ID)
    rossum.add_fixture_annotation(metadata={"erp_batch": "b-17"})
    yield rossum
    server.stop()


@pytest.fixture
def target():
    """A served target API that records every request it receives."""
    recorder = Target()
    server = ServerThread(recorder).start()
    recorder.url = server.url
    yield recorder
    server.stop()


@pytest.fixture
def live_app(app):
    """The app under a real WSGI server; yields its base URL."""
    server = ServerThread(app).start()
    yield server.url
    server.stop()


@pytest.fixture
def payload_for(fake_rossum):
    """Build payloads whose Rossum URLs point at the fake Rossum."""

    def build(settings=None, **kwargs):
        return build_payload(settings, base_url=fake_rossum.url, **kwargs)

    return build


@pytest.fixture
def post_hook(live_app):
    """POST a payload to the live app over real HTTP; returns (status, JSON answer)."""

    def post(payload, path="/"):
        response = requests.post(f"{live_app}{path}", json=payload, timeout=30)
        return response.status_code, response.json()

    return post


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test that started the service's processes shows the end of their logs."""
    report = yield
    started = getattr(item, "funcargs", {}).get("processes")
    if report.failed and isinstance(started, Processes):
        for name, tail in started.log_tails():
            report.sections.append((f"last lines of {name}", tail))
    return report


@pytest.fixture
def processes(tmp_path):
    """Start the service's processes (gunicorn, Redis); all stopped afterwards."""
    started = Processes(tmp_path)
    yield started
    started.stop_all()


@pytest.fixture
def redis_url(processes):
    """A real redis-server of the test's own. Skipped, saying why, only where none can be
    started and REQUIRE_REDIS is not set (CI sets it: there these tests must run)."""
    try:
        return processes.redis_server()
    except (FileNotFoundError, RuntimeError) as error:
        if os.environ.get("REQUIRE_REDIS"):
            raise
        pytest.skip(f"no Redis for this test: {error} (install redis-server to run it)")


@pytest.fixture(autouse=True)
def forget_tokens():
    """Tokens a process remembers between hook calls must not leak between tests."""
    tokens._newest_tokens.clear()
    yield
    tokens._newest_tokens.clear()
