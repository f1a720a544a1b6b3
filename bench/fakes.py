"""Fake Rossum and target for the benchmark: one WSGI app (``gunicorn bench.fakes:app``).

Served by gunicorn like the apps it serves, so connections are kept alive as Rossum's
and a customer's API keep them (werkzeug's development server closes every
connection), and the floor and the service meet the very same fakes. Its base URL
comes from ``BENCH_FAKES_URL``; the target is every path under ``/target``.
"""

import os
import random

from werkzeug.wrappers import Request

from tests.builders import ANNOTATION_ID, ORIGINAL_DOCUMENT_ID
from tests.servers import FakeRossum, json_response

ROSSUM_TOKEN = "bench-token-0123456789"
CSV = b"document_id,amount_total\nINV-2024-0042,1234.50\n" * 4  # a small export file (188 bytes)
BIG_SIZE = 50 * 1024 * 1024
TARGET_PREFIX = "/target"


class ForgetfulRossum(FakeRossum):
    """Records nothing: a benchmark makes thousands of calls. Metadata written to the
    annotation (export receipts) is accepted and forgotten, so every export reads the
    same annotation."""

    def __call__(self, environ, start_response):
        return self.route(Request(environ))(environ, start_response)

    def write(self, request: Request, parts: list[str]):
        if request.method == "PATCH" and parts[:1] == ["annotations"]:
            request.get_data()
            return json_response(self.annotations[int(parts[1])])
        return super().write(request, parts)


def forgetful_target(environ, start_response):
    """Reads the whole body (bounded by Content-Length, or dechunked) and answers ``{}``."""
    stream = Request(environ).stream
    while stream.read(1024 * 1024):
        pass
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
    return [b"{}"]


def build(url: str):
    rossum = ForgetfulRossum(ROSSUM_TOKEN)
    rossum.url = url
    rossum.add_export_document(ANNOTATION_ID, "csv", CSV)
    big = random.Random(0).randbytes(BIG_SIZE)  # the same bytes in every fakes worker
    rossum.add_export_document(ANNOTATION_ID, "big", big, "application/pdf", "big.pdf")
    rossum.add_document(b"%PDF-1.7\n", "application/pdf", "invoice.pdf", id=ORIGINAL_DOCUMENT_ID)
    rossum.add_fixture_annotation()

    def fakes(environ, start_response):
        if environ["PATH_INFO"].startswith(TARGET_PREFIX):
            return forgetful_target(environ, start_response)
        return rossum(environ, start_response)

    return fakes


app = build(os.environ.get("BENCH_FAKES_URL", "http://127.0.0.1:8000"))
app.extensions = {}  # gunicorn.conf.py's hooks look for a Flask app's extensions
