"""rest-api-export: a Rossum webhook that sends exported documents to a REST API."""

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from . import reply_headers
from .config import Config
from .errors import PayloadError, RefusedCall
from .hook_wsgi import HookRoute
from .jobs import JobService
from .messages import HookAnswer, error
from .pipeline.runtime import Runtime
from .redaction import install_log_redaction
from .state import is_redis

log = logging.getLogger(__name__)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: configuration from the environment, then ``test_config`` over it."""
    app = Flask(__name__)
    app.config.update(Config.from_env().as_flask_config())
    if test_config:
        app.config.update(test_config)
    # One byte over the limit is read, so a chunked body that werkzeug cuts at the
    # limit is still seen to be too large (app.hooks.read_body).
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_PAYLOAD_BYTES"] + 1
    configure_logging(app.config["LOG_LEVEL"])
    reply_headers.install()  # replies' headers read without the email parser
    app.extensions["runtime"] = runtime = Runtime(app.config)
    if is_redis(app.config["STATE_URL"]):
        _ = runtime.state_store  # opened now: a Redis without persistence is refused at start
    app.extensions["jobs"] = JobService(runtime)
    app.wsgi_app = HookRoute(app, app.wsgi_app)  # hook calls without Flask's request objects
    if app.config["TRUST_PROXY"]:  # behind a PaaS router: its X-Forwarded-* make our URLs
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    from . import admin, cli, hooks

    app.register_blueprint(hooks.bp)
    app.register_blueprint(admin.bp)
    app.teardown_appcontext(hooks.unbind_redaction)
    app.cli.add_command(cli.preview_command)
    app.cli.add_command(cli.export_command)
    register_error_handlers(app)
    return app


def configure_logging(level: str) -> None:
    install_log_redaction()
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger().setLevel(level.upper())
    # urllib3 logs request lines, query strings included, at DEBUG, and each retry at
    # WARNING; the service logs its own attempts without URLs.
    logging.getLogger("urllib3").setLevel(logging.ERROR)


def answer_with_error(content: str, status: int):
    """A non-200 answer in the hook answer's shape (SPEC §2)."""
    return jsonify(HookAnswer(messages=[error(content)]).to_json()), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(PayloadError)
    def invalid_payload(exc: PayloadError):
        return answer_with_error(exc.describe(), 400)

    @app.errorhandler(RefusedCall)
    def refused(exc: RefusedCall):
        return answer_with_error(str(exc), exc.status)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge):
        limit = app.config["MAX_PAYLOAD_BYTES"]
        return answer_with_error(
            f"The hook payload is larger than MAX_PAYLOAD_BYTES ({limit} bytes)", 413
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return answer_with_error(f"{exc.code} {exc.name}: {exc.description}", exc.code or 500)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unexpected error while answering a request")
        return answer_with_error(
            "Internal error in the REST API export service; it has been logged.", 500
        )
