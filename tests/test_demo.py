"""``make demo``: the fixture export end to end through a served instance, then all stopped."""

import re
import subprocess
import sys

import pytest
import requests

from tests.processes import PROJECT, START_TIMEOUT_S


def test_the_demo_shows_an_export_end_to_end_and_stops_what_it_started():
    result = subprocess.run(
        [sys.executable, "-m", "demo"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S + 60,
    )
    out = result.stdout

    assert result.returncode == 0, out + result.stderr
    assert re.search(r'"content": "Exported: POST 127\.0\.0\.1:\d+ answered 201 CREATED"', out)
    assert "POST /api/invoices\nContent-Type: text/plain\n" in out
    assert "INV-2024-0042,2024-08-06,1234.50" in out  # the export document, as received
    assert "GET /api/v1/documents/900001/content" in out
    service = re.search(r"^Service \(gunicorn\): +(\S+)$", out, re.MULTILINE)[1]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{service}/healthz", timeout=5)
