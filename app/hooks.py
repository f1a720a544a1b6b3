"""Blueprint: the Rossum hook endpoints ``POST /`` and ``POST /export`` (SPEC §2, §3)."""

import logging
from collections.abc import Callable, Mapping

from flask import Blueprint, current_app, g, jsonify, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_input_stream

from .jobs import Accepted
from .messages import HookAnswer
from .payload import HookPayload, ignored_call, parse_json_body, parse_payload
from .redaction import Redactor, bind, unbind
from .security import check_rossum_urls, verify_signature

log = logging.getLogger(__name__)

bp = Blueprint("hooks", __name__)


@bp.post("/")
@bp.post("/export")
def hook_call():
    status, answer, headers = answer_hook_call(read_body(request.environ), request.headers)
    return jsonify(answer), status, headers


def answer_hook_call(
    body: bytes, headers: Mapping[str, str], job_location: Callable[[str], str] | None = None
) -> tuple[int, dict, dict]:
    """The hook route's status, answer and headers, without Flask's request and response
    objects (app.hook_wsgi calls it straight from WSGI). Runs in an app context; what it
    raises, the app's error handlers answer."""
    verify_signature(body, headers, current_app.config["HOOK_SECRET"])
    data = parse_json_body(body)
    ignored = ignored_call(data)
    if ignored is not None:
        log.info("ignored %s: only an export exports; nothing sent", ignored)
        return 200, HookAnswer().to_json(), {}
    payload, redactor = checked_payload(data)
    answer = current_app.extensions["jobs"].answer(payload, redactor)
    if isinstance(answer, Accepted):  # still running after SYNC_WAIT_S: Rossum polls the job
        return 202, HookAnswer().to_json(), {"Location": (job_location or job_url)(answer.job_id)}
    return 200, answer.to_json(), {}


def job_url(job_id: str) -> str:
    """The absolute URL of a job, as Rossum must reach it (PUBLIC_URL, or the request's)."""
    public_url = current_app.config["PUBLIC_URL"]
    if public_url:
        return f"{public_url.rstrip('/')}/jobs/{job_id}"
    return url_for("admin.job", job_id=job_id, _external=True)


def checked_payload(data: dict) -> tuple[HookPayload, Redactor]:
    """The payload checked (400, 403) with a redactor for its secrets bound to the logs."""
    payload = parse_payload(data)
    redactor = Redactor.for_payload(payload.secrets, payload.rossum_token)
    g.redaction = bind(redactor)  # unbound when the request or command is torn down
    check_rossum_urls(payload, current_app.config["ALLOWED_ROSSUM_HOSTS"])
    return payload, redactor


def read_body(environ: dict) -> bytes:
    """The raw body, refused with 413 over MAX_PAYLOAD_BYTES (chunked bodies included)."""
    limit = current_app.config["MAX_PAYLOAD_BYTES"]
    # One byte over the limit is read, so a chunked body cut at the limit is still too large.
    body = get_input_stream(environ, max_content_length=limit + 1).read(limit + 1)
    if len(body) > limit:
        raise RequestEntityTooLarge()
    return body


def unbind_redaction(exc):
    """Registered as an app-context teardown: after requests and CLI commands alike."""
    token = g.pop("redaction", None)
    if token is not None:
        unbind(token)
