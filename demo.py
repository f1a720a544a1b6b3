"""``make demo``: one export end to end on this machine, without a Rossum account.

It starts a local stand-in for Rossum (holding the fixture annotation, its CSV export
document and its PDF) and one for the customer's API, serves the service with gunicorn
as ``make run`` does (on a free port, the local Rossum allowed, loopback targets
allowed), sends it tests/fixtures/export_payload.json with its Rossum URLs moved onto
the local stand-in, prints the hook answer and what the customer's API received, and
stops everything it started.
"""

import json
import logging
import sys
import tempfile
from pathlib import Path

import requests

from tests.builders import (
    ANNOTATION_ID,
    FIXTURES,
    ORIGINAL_DOCUMENT_ID,
    build_payload,
    load_fixture,
)
from tests.processes import PROJECT, Processes
from tests.servers import FakeRossum, ServerThread, Target

PAYLOAD_FILE = FIXTURES / "export_payload.json"
EXPORT_KEY = "export_annotation_to_csv"  # the fixture's export_reference_key
CSV = b"document_id,date_issue,amount_total\nINV-2024-0042,2024-08-06,1234.50\n"
PDF = b"%PDF-1.7\n% a stand-in for the uploaded invoice\n%%EOF\n"
CUSTOMER_PATH = "/api/invoices"


def serve_rossum(token: str) -> tuple[FakeRossum, ServerThread]:
    """A local Rossum holding the fixture annotation and its files."""
    rossum = FakeRossum(token)
    server = ServerThread(rossum).start()
    rossum.url = server.url
    rossum.add_export_document(ANNOTATION_ID, EXPORT_KEY, CSV)
    rossum.add_document(PDF, "application/pdf", "invoice 0042.pdf", id=ORIGINAL_DOCUMENT_ID)
    rossum.add_fixture_annotation()
    return rossum, server


def serve_customer_api() -> tuple[Target, ServerThread]:
    """A local customer API that records what it receives and answers 201 with an id."""
    target = Target()
    target.default_reply.status = 201
    target.default_reply.body = b'{"id": "ERP-4711"}'
    server = ServerThread(target).start()
    target.url = server.url
    return target, server


def demo_payload(rossum_url: str, customer_url: str) -> dict:
    """The fixture payload on the local Rossum, its export sent to the local customer API."""
    payload = build_payload(base_url=rossum_url)
    payload["settings"]["request"]["url"] = f"{customer_url}{CUSTOMER_PATH}"
    return payload


def show_received(target: Target) -> None:
    for received in target.requests:
        print(f"{received.method} {received.path}")
        for name, value in received.headers.items():
            if name.lower() in ("content-type", "content-length", "idempotency-key"):
                print(f"{name}: {value}")
        print()
        print(received.body.decode("utf-8", errors="replace"))


def run(started: Processes, servers: list[ServerThread], state_dir: str) -> bool:
    """Serve, send, show; True when the export succeeded and reached the customer's API."""
    token = load_fixture(PAYLOAD_FILE.name)["rossum_authorization_token"]
    rossum, rossum_server = serve_rossum(token)
    servers.append(rossum_server)
    rossum_url = rossum.url
    target, customer_server = serve_customer_api()
    servers.append(customer_server)
    print(f"Rossum stand-in:       {rossum_url} (annotation {ANNOTATION_ID})")
    print(f"Customer API stand-in: {target.url}{CUSTOMER_PATH}")
    service = started.gunicorn(
        STATE_URL=f"sqlite:///{state_dir}/state.sqlite3",
        ALLOWED_ROSSUM_HOSTS=f"http://{rossum_url.removeprefix('http://')}",
        ALLOW_PRIVATE_TARGETS="true",
        WEB_CONCURRENCY="1",
    )
    print(f"Service (gunicorn):    {service}")
    print(f"\nPOST {service}/ with {PAYLOAD_FILE.relative_to(PROJECT)}")
    print("(its Rossum URLs moved to the stand-in, its request.url to the customer API)\n")
    response = requests.post(service, json=demo_payload(rossum_url, target.url), timeout=60)
    answer = response.json()
    print(f"Hook answer, HTTP {response.status_code}:")
    print(json.dumps(answer, indent=2))
    print(f"\nThe customer's API received {len(target.requests)} request(s):")
    show_received(target)
    print("The service's calls to the Rossum stand-in:")
    for call in rossum.calls:
        print(f"  {call.method} {call.path}")
    failed = any(message["type"] == "error" for message in answer["messages"])
    return response.status_code == 200 and not failed and len(target.requests) == 1


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access lines of the stand-ins
    with tempfile.TemporaryDirectory(prefix="rest-api-export-demo-") as state_dir:
        started = Processes(Path(state_dir))
        servers: list[ServerThread] = []
        try:
            succeeded = run(started, servers, state_dir)
        except (requests.RequestException, RuntimeError, ValueError) as problem:
            print(f"The demo failed: {problem}", file=sys.stderr)
            for name, tail in started.log_tails():
                print(f"--- last lines of {name}:\n{tail}", file=sys.stderr)
            succeeded = False
        finally:
            started.stop_all()
            for server in servers:
                server.stop()
    print("Stopped the service and both stand-ins.")
    return 0 if succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
