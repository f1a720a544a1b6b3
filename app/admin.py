"""Blueprint: endpoints for the people who run and configure the service (SPEC §2)."""

import time

from flask import Blueprint, Response, current_app, jsonify, request

from .errors import SettingsError
from .hooks import checked_payload
from .messages import HookAnswer, error
from .metrics import exposition
from .payload import parse_json_body
from .pipeline import preview_hook
from .settings import load_settings
from .settings_schema import settings_json_schema

bp = Blueprint("admin", __name__)


@bp.get("/healthz")
def healthz():
    """Liveness: answers without touching any other system."""
    return jsonify(status="ok")


@bp.post("/validate")
def validate_settings():
    """A settings object: 200 when valid, else 422 with every problem and its path."""
    settings = request.get_json(silent=True)
    try:
        load_settings(settings)
    except SettingsError as error:
        return jsonify(valid=False, errors=problem_list(error)), 422
    return jsonify(valid=True)


@bp.get("/settings-schema")
def settings_schema():
    """The settings' JSON Schema, for Rossum's hook.settings_schema."""
    return jsonify(settings_json_schema())


@bp.post("/preview")
def preview():
    """A hook payload: the requests it would send, secrets masked; nothing is sent."""
    payload, redactor = checked_payload(parse_json_body(request.get_data()))
    try:
        previews = preview_hook(payload, current_app.extensions["runtime"], redactor)
    except SettingsError as error:
        return jsonify(valid=False, errors=problem_list(error)), 422
    return jsonify(requests=previews)


@bp.get("/jobs/<job_id>")
def job(job_id: str):
    """An export answered 202: 202 while it runs, 201 with the hook answer, 404 unknown."""
    record = current_app.extensions["runtime"].state_store.get_job(job_id)
    if record is None or not record.done and record.alive_until < time.time():
        # Unknown, expired, or its owner's heartbeat stopped (it died): Rossum re-sends
        # the hook call, and the export's claim decides whether it is sent again.
        return jsonify(HookAnswer([error("Unknown or expired export job.")]).to_json()), 404
    if not record.done:
        return jsonify(HookAnswer().to_json()), 202, {"Retry-After": "1"}
    return jsonify(HookAnswer.from_json(record.answer).to_json()), 201


@bp.get("/metrics")
def metrics():
    """Prometheus text format."""
    body, content_type = exposition(current_app.config["PROMETHEUS_MULTIPROC_DIR"])
    return Response(body, content_type=content_type)


def problem_list(error: SettingsError) -> list[dict]:
    return [{"path": problem.path, "message": problem.message} for problem in error.problems]
