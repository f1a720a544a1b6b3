"""The hook route (``POST /`` and ``POST /export``) straight on WSGI.

Flask's request and response objects, routing and dispatch cost about as much CPU as
a tenth of an export's whole floor (see the README's benchmark), so hook calls skip
them: the same route function (app.hooks.answer_hook_call) runs in an app context and
its answer is written as ``jsonify`` writes it. Every other request, and every error
answer (through the app's error handlers), is Flask's.
"""

from http import HTTPStatus

from flask import Flask
from werkzeug.datastructures import EnvironHeaders

from .hooks import answer_hook_call, job_url, read_body

HOOK_PATHS = frozenset({"/", "/export"})


class HookRoute:
    """WSGI middleware: hook calls answered here, everything else passed to Flask."""

    def __init__(self, app: Flask, flask_wsgi):
        self.app, self.flask_wsgi = app, flask_wsgi

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") not in HOOK_PATHS:
            return self.flask_wsgi(environ, start_response)
        with self.app.app_context():
            try:
                status, answer, headers = answer_hook_call(
                    read_body(environ),
                    EnvironHeaders(environ),
                    lambda job_id: self.job_url(environ, job_id),
                )
                # As jsonify writes it: the app's JSON settings, compact, a final newline.
                body = (self.app.json.dumps(answer, separators=(",", ":")) + "\n").encode()
            except Exception as error:  # answered by the app's error handlers, as in Flask
                return self.error_answer(environ, start_response, error)
        start_response(
            f"{status} {HTTPStatus(status).phrase}",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                *headers.items(),
            ],
        )
        return [body]

    def job_url(self, environ, job_id: str) -> str:
        with self.app.request_context(environ):  # the request's own URL, as Flask builds it
            return job_url(job_id)

    def error_answer(self, environ, start_response, error: Exception):
        with self.app.request_context(environ):
            response = self.app.make_response(self.app.handle_user_exception(error))
        return response(environ, start_response)
