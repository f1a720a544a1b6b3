"""The floor: the least a service could do for an export (``gunicorn bench.floor:app``).

The same calls the service makes for a raw ``#{file_content}`` export — relation,
document, content, then the POST to the target — with one requests.Session, and an
answer of ``{}``: no validation, templating, state, metrics or logs.
"""

import json

import requests

session = requests.Session()


def app(environ, start_response):
    payload = json.loads(environ["wsgi.input"].read())
    base, headers = (
        payload["base_url"],
        {"Authorization": f"Bearer {payload['rossum_authorization_token']}"},
    )
    settings = payload["settings"]
    relations = session.get(
        f"{base}/api/v1/document_relations",
        headers=headers,
        params={
            "type": "export",
            "annotation": payload["annotation"]["id"],
            "key": settings["export_reference_key"],
        },
    ).json()
    document_url = relations["results"][0]["documents"][0]
    document = session.get(document_url, headers=headers).json()
    content = session.get(document["content"], headers=headers).content
    session.post(
        settings["request"]["url"], data=content, headers=settings["request"].get("headers", {})
    )
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
    return [b"{}"]
