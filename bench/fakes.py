"""Fake Rossum and target for the benchmark, in their own process (``python -m bench.fakes``).

Prints the two base URLs on one line, then serves until killed. ``--latency-ms``
delays every answer, as a real network would.
"""

import argparse
import os
import sys
import time

from werkzeug.wrappers import Request

from tests.builders import ANNOTATION_ID, ORIGINAL_DOCUMENT_ID, annotation_content
from tests.servers import FakeRossum, ServerThread, Target

ROSSUM_TOKEN = "bench-token-0123456789"
CSV = b"document_id,amount_total\nINV-2024-0042,1234.50\n" * 20
BIG_SIZE = 50 * 1024 * 1024


class Delayed:
    def __init__(self, app, latency_s: float):
        self.app, self.latency_s = app, latency_s

    def __call__(self, environ, start_response):
        if self.latency_s:
            time.sleep(self.latency_s)
        return self.app(environ, start_response)


class ForgetfulTarget(Target):
    """Records nothing: a benchmark sends thousands of requests and 50 MB bodies."""

    def __call__(self, environ, start_response):
        stream = Request(environ).stream  # bounded by Content-Length, or dechunked
        while stream.read(1024 * 1024):
            pass
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
        return [b"{}"]


class ForgetfulRossum(FakeRossum):
    def __call__(self, environ, start_response):
        response = self.route(Request(environ))
        return response(environ, start_response)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-ms", type=float, default=0)
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    rossum = ForgetfulRossum(ROSSUM_TOKEN)
    rossum_server = ServerThread(Delayed(rossum, latency)).start()
    rossum.url = rossum_server.url
    rossum.add_export_document(ANNOTATION_ID, "csv", CSV)
    rossum.add_export_document(
        ANNOTATION_ID, "big", os.urandom(BIG_SIZE), "application/pdf", "big.pdf"
    )
    rossum.add_document(b"%PDF-1.7\n", "application/pdf", "invoice.pdf", id=ORIGINAL_DOCUMENT_ID)
    rossum.annotation_contents[ANNOTATION_ID] = annotation_content()
    target_server = ServerThread(Delayed(ForgetfulTarget(), latency)).start()
    print(rossum.url, target_server.url, flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin


if __name__ == "__main__":
    main()
