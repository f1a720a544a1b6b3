"""Hook payloads for tests, built from the fixtures copied from real Rossum calls."""

import copy
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_BASE_URL = "https://example.rossum.app"
ANNOTATION_ID = 314521
ORIGINAL_DOCUMENT_ID = 314621
SECRETS = {"client_id": "my-client", "client_secret": "s3cr3t-value"}


def load_fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def rebase(value, base_url: str):
    """Every fixture URL moved onto ``base_url`` (a local fake Rossum)."""
    if isinstance(value, str):
        return value.replace(FIXTURE_BASE_URL, base_url)
    if isinstance(value, list):
        return [rebase(item, base_url) for item in value]
    if isinstance(value, dict):
        return {key: rebase(item, base_url) for key, item in value.items()}
    return value


def build_payload(
    settings: dict | None = None,
    *,
    event: str = "annotation_content",
    base_url: str = FIXTURE_BASE_URL,
    secrets: dict | None = None,
    **overrides,
) -> dict:
    """A hook payload of ``event`` with ``settings``; keyword overrides replace top-level keys."""
    name = "status_payload.json" if event == "annotation_status" else "export_payload.json"
    payload = rebase(copy.deepcopy(load_fixture(name)), base_url)
    if settings is not None:
        payload["settings"] = settings
    if secrets is not None:
        payload["secrets"] = secrets
    payload.update(overrides)
    return payload


def annotation_content() -> list:
    """The content tree of the fixture annotation."""
    return load_fixture("export_payload.json")["annotation"]["content"]


def simple_settings(url: str, **request) -> dict:
    """The seed's "Simple REST API call", sent to ``url``."""
    return {
        "export_reference_key": "export_annotation_to_csv",
        "request": {
            "url": url,
            "method": "POST",
            "headers": {"Content-Type": "text/plain"},
            "content": "#{file_content}",
            **request,
        },
    }


def post_at_once(urls: list[str], payload: dict) -> list[requests.Response]:
    """POST the same payload to every URL at the same moment, one thread each."""
    with ThreadPoolExecutor(len(urls)) as pool:
        return list(pool.map(lambda url: requests.post(url, json=payload, timeout=30), urls))
