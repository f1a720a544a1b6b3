"""Blueprint: the Rossum hook endpoints ``POST /`` and ``POST /export`` (SPEC §2, §3)."""

from flask import Blueprint, current_app, jsonify, request

from .messages import HookAnswer
from .payload import EXPORT_EVENTS, event_of, parse_json_body, parse_payload
from .pipeline import run_hook

bp = Blueprint("hooks", __name__)


@bp.post("/")
@bp.post("/export")
def hook_call():
    data = parse_json_body(request.get_data(cache=False))
    if event_of(data) not in EXPORT_EVENTS:
        return jsonify(HookAnswer().to_json())
    payload = parse_payload(data)
    answer = run_hook(payload, current_app.extensions["runtime"])
    return jsonify(answer.to_json())
