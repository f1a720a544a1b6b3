"""The floor: the least a service could do for an export (``gunicorn bench.floor:app``).

The same calls the service makes for a raw ``#{file_content}`` export — relation,
document, content, the POST to the target, then the annotation read and its metadata
written with the export's receipt — and an answer of ``{}``: no validation,
templating, state, metrics or logs. Like the service, each thread keeps
its own requests.Session, with ``trust_env`` off (no per-call proxy or ``~/.netrc``
look-ups), so the two differ only in what the service does on top.
"""

import hashlib
import json
import threading
import time

import requests

_local = threading.local()


def session() -> requests.Session:
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
        _local.session.trust_env = False
    return _local.session


def app(environ, start_response):
    http = session()
    payload = json.loads(environ["wsgi.input"].read() or b"{}")
    if "base_url" not in payload:  # a readiness probe
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
        return [b"{}"]
    base, headers = (
        payload["base_url"],
        {"Authorization": f"Bearer {payload['rossum_authorization_token']}"},
    )
    settings = payload["settings"]
    relations = http.get(
        f"{base}/api/v1/document_relations",
        headers=headers,
        params={
            "type": "export",
            "annotation": payload["annotation"]["id"],
            "key": settings["export_reference_key"],
        },
    ).json()
    document_url = relations["results"][0]["documents"][0]
    document = http.get(document_url, headers=headers).json()
    content = http.get(document["content"], headers=headers).content
    url = settings["request"]["url"]
    http.post(url, data=content, headers=settings["request"].get("headers", {}))
    annotation_url = payload["annotation"]["url"]
    metadata = http.get(annotation_url, headers=headers).json().get("metadata") or {}
    receipt = {"key": hashlib.sha256(url.encode()).hexdigest(), "exported_at": time.time()}
    metadata["rest_api_export_receipts"] = [receipt]
    http.patch(annotation_url, headers=headers, json={"metadata": metadata})
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
    return [b"{}"]


app.extensions = {}  # gunicorn.conf.py's hooks look for a Flask app's extensions
