"""Blueprint: the Rossum hook endpoints ``POST /`` and ``POST /export`` (SPEC §2, §3)."""

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from .messages import HookAnswer
from .payload import EXPORT_EVENTS, event_of, parse_json_body, parse_payload
from .pipeline import run_hook
from .redaction import Redactor, bind, unbind
from .security import check_rossum_urls, verify_signature

bp = Blueprint("hooks", __name__)


@bp.post("/")
@bp.post("/export")
def hook_call():
    body = read_body()
    verify_signature(body, request.headers, current_app.config["HOOK_SECRET"])
    data = parse_json_body(body)
    if event_of(data) not in EXPORT_EVENTS:
        return jsonify(HookAnswer().to_json())
    payload = parse_payload(data)
    redactor = Redactor.for_payload(payload.secrets, payload.rossum_token)
    g.redaction = bind(redactor)  # unbound when the request is torn down
    check_rossum_urls(payload, current_app.config["ALLOWED_ROSSUM_HOSTS"])
    answer = run_hook(payload, current_app.extensions["runtime"], redactor)
    return jsonify(answer.to_json())


def read_body() -> bytes:
    """The raw body, refused with 413 over MAX_PAYLOAD_BYTES (chunked bodies included)."""
    body = request.get_data(cache=False)
    if len(body) > current_app.config["MAX_PAYLOAD_BYTES"]:
        raise RequestEntityTooLarge()
    return body


@bp.teardown_app_request
def unbind_redaction(exc):
    token = g.pop("redaction", None)
    if token is not None:
        unbind(token)
