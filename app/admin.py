"""Blueprint: endpoints for operators (SPEC §2)."""

from flask import Blueprint, jsonify

bp = Blueprint("admin", __name__)


@bp.get("/healthz")
def healthz():
    """Liveness: answers without touching any other system."""
    return jsonify(status="ok")
