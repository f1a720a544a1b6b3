"""Local HTTP servers for tests: a fake Rossum API and a target that records what it got.

Both are real HTTP servers (werkzeug, threaded, on a free loopback port), so what
they record is what went over the wire, parsed as a receiving framework would.
"""

import base64
import itertools
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from werkzeug.datastructures import Headers
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.builders import ANNOTATION_ID, annotation_content

ANNOTATION = re.compile(r"/api/v1/annotations/\d+")


class ServerThread:
    """Serves a WSGI app on 127.0.0.1 and a free port until :meth:`stop`."""

    def __init__(self, app, port: int = 0):
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def start(self) -> "ServerThread":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def json_response(data, status=200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


@dataclass
class RecordedRequest:
    """One request as the server parsed it."""

    method: str
    path: str
    args: dict
    headers: Headers
    body: bytes
    form: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)  # name -> (filename, content type, bytes)
    received_at: float = field(default_factory=time.monotonic)


def record(request: Request) -> RecordedRequest:
    body = request.get_data(cache=True)
    files = {}
    for name, storage in request.files.items():
        files[name] = (storage.filename, storage.content_type, storage.read())
        storage.stream.seek(0)  # the app behind the recorder reads it again
    return RecordedRequest(
        method=request.method,
        path=request.path,
        args=request.args.to_dict(),
        headers=Headers(request.headers),
        body=body,
        form=request.form.to_dict(),
        files=files,
    )


@dataclass
class CannedReply:
    status: int = 200
    body: bytes = b'{"ok": true}'
    headers: dict | list = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay_s: float = 0.0


class Target:
    """The customer's API: records every request; answers with queued or default replies.

    With ``accepted_tokens`` set, a request without ``Authorization: Bearer <one of
    them>`` is answered 401 (recorded all the same).
    """

    def __init__(self):
        self.requests: list[RecordedRequest] = []
        self.replies: list[CannedReply] = []
        self.default_reply = CannedReply()
        self.accepted_tokens: set[str] | None = None
        self.lock = threading.Lock()

    def reply_with(self, status=200, body=b"", headers=None, delay_s=0.0, times=1) -> None:
        """Queue a reply for the next ``times`` requests."""
        reply = CannedReply(status, body, headers or {}, delay_s)
        self.replies.extend([reply] * times)

    def __call__(self, environ, start_response):
        request = Request(environ)
        with self.lock:
            self.requests.append(record(request))
            if self.accepted_tokens is not None and request.headers.get("Authorization") not in {
                f"Bearer {token}" for token in self.accepted_tokens
            }:
                reply = CannedReply(401, b'{"error": "invalid_token"}')
            else:
                reply = self.replies.pop(0) if self.replies else self.default_reply
        if reply.delay_s:
            time.sleep(reply.delay_s)
        body = reply.body(request) if callable(reply.body) else reply.body
        response = Response(body, status=reply.status, headers=reply.headers)
        return response(environ, start_response)


class TokenEndpoint:
    """An OAuth2 token endpoint: checks the grant's fields and issues numbered tokens.

    ``required`` maps body (or query) fields to the values it insists on; a mismatch
    is answered ``401 invalid_client``, echoing the client_secret as bad servers do.
    With ``basic_only`` (Authlib's stock server) ``client_id``/``client_secret`` must come
    as HTTP Basic credentials, decoded with ``basic_decode`` (RFC 6749's form rule by
    default), and never in the body.
    """

    def __init__(self, required: dict, expires_in: int | None = 3600):
        self.required = required
        self.required_headers: dict = {}
        self.expires_in = expires_in
        self.requests: list[RecordedRequest] = []
        self.issued: list[str] = []
        self.lock = threading.Lock()
        self.shape = lambda token: {"access_token": token, "token_type": "Bearer"}
        self.delay_s = 0.0
        self.basic_only = False
        self.basic_decode = unquote_plus

    def basic_credentials(self, request: Request) -> dict:
        """client_id/client_secret of an ``Authorization: Basic`` header; {} without one."""
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Basic":
            return {}
        client_id, _, client_secret = base64.b64decode(encoded).decode().partition(":")
        return {
            "client_id": self.basic_decode(client_id),
            "client_secret": self.basic_decode(client_secret),
        }

    def __call__(self, environ, start_response):
        request = Request(environ)
        recorded = record(request)
        fields = request.get_json() if request.is_json else {**request.args, **request.form}
        with self.lock:
            self.requests.append(recorded)
        if self.delay_s:
            time.sleep(self.delay_s)
        wrong_headers = any(
            request.headers.get(name) != value for name, value in self.required_headers.items()
        )
        if self.basic_only:
            if "client_id" in fields or "client_secret" in fields:
                return json_response(
                    {
                        "error": "invalid_client",
                        "error_description": "The client cannot authenticate with methods: "
                        "['client_secret_basic']",
                    },
                    401,
                )(environ, start_response)
            fields = {**fields, **self.basic_credentials(request)}
        if wrong_headers or any(fields.get(k) != v for k, v in self.required.items()):
            return json_response(
                {
                    "error": "invalid_client",
                    "error_description": f"bad credentials {fields.get('client_secret')}",
                },
                401,
            )(environ, start_response)
        with self.lock:
            token = f"token-{len(self.issued) + 1}"
            self.issued.append(token)
        reply = self.shape(token)
        if self.expires_in is not None:
            reply["expires_in"] = self.expires_in
        return json_response(reply)(environ, start_response)


class FakeRossum:
    """A fake Rossum API: document relations, documents, content; checks the Bearer token."""

    def __init__(self, token: str):
        self.token = token
        self.url = ""  # set once served
        self.calls: list[RecordedRequest] = []
        self.relations: list[dict] = []
        self.documents: dict[int, dict] = {}
        self.annotation_contents: dict[int, list] = {}
        self.annotations: dict[int, dict] = {}
        self.hooks: dict[int, dict] = {}
        self.failures: dict[tuple[str, str], list[Response]] = {}
        self.delays: dict[tuple[str, str], list[float]] = {}
        self.ids = itertools.count(900001)
        self.lock = threading.Lock()

    def add_document(self, content: bytes, mime_type: str, file_name: str, id=None) -> str:
        """Store a document; returns its API URL."""
        document_id = id or next(self.ids)
        self.documents[document_id] = {
            "id": document_id,
            "mime_type": mime_type,
            "original_file_name": file_name,
            "content_bytes": content,
        }
        return f"{self.url}/api/v1/documents/{document_id}"

    def add_fixture_annotation(self, metadata: dict | None = None) -> None:
        """The fixture payload's annotation: its content tree and the annotation object
        (its URL on this fake, so set ``url`` first)."""
        self.annotation_contents[ANNOTATION_ID] = annotation_content()
        self.annotations[ANNOTATION_ID] = {
            "id": ANNOTATION_ID,
            "url": f"{self.url}/api/v1/annotations/{ANNOTATION_ID}",
            "metadata": dict(metadata or {}),
        }

    def add_export_document(
        self, annotation_id, key, content, mime_type="text/csv", file_name="export.csv"
    ) -> str:
        document_url = self.add_document(content, mime_type, file_name)
        self.add_relation(f"{self.url}/api/v1/annotations/{annotation_id}", key, [document_url])
        return document_url

    def add_relation(self, annotation_url: str, key: str, documents: list[str]) -> dict:
        relation_id = next(self.ids)
        relation = {
            "id": relation_id,
            "url": f"{self.url}/api/v1/document_relations/{relation_id}",
            "type": "export",
            "key": key,
            "annotation": annotation_url,
            "documents": documents,
        }
        self.relations.append(relation)
        return relation

    def relation(self, annotation_id: int, key: str) -> dict | None:
        annotation_url = f"{self.url}/api/v1/annotations/{annotation_id}"
        return next(
            (r for r in self.relations if r["key"] == key and r["annotation"] == annotation_url),
            None,
        )

    def document_content(self, document_url: str) -> bytes:
        return self.documents[int(document_url.rstrip("/").rsplit("/", 1)[1])]["content_bytes"]

    def fail_next(self, method: str, path: str, status: int, body=None, headers=None, times=1):
        """Answer the next ``times`` calls of ``method path`` with ``status``."""
        response = Response(
            json.dumps(body or {"detail": "failure"}),
            status=status,
            headers=headers or {},
            mimetype="application/json",
        )
        self.failures.setdefault((method, path), []).extend([response] * times)

    def delay_next(self, method: str, path: str, seconds: float, times=1) -> None:
        """Hold the next ``times`` calls of ``method path`` for ``seconds`` (recorded first)."""
        self.delays.setdefault((method, path), []).extend([seconds] * times)

    def calls_to(self, path_prefix: str) -> list[RecordedRequest]:
        return [call for call in self.calls if call.path.startswith(path_prefix)]

    def fetches(self) -> list[RecordedRequest]:
        """The reads of files and content: every GET but of an annotation (its metadata)."""
        return [c for c in self.calls if c.method == "GET" and not ANNOTATION.fullmatch(c.path)]

    def __call__(self, environ, start_response):
        request = Request(environ)
        with self.lock:
            self.calls.append(record(request))
            queued = self.failures.get((request.method, request.path))
            failure = queued.pop(0) if queued else None
            delays = self.delays.get((request.method, request.path))
            delay_s = delays.pop(0) if delays else 0.0
        time.sleep(delay_s)
        response = failure or self.route(request)
        return response(environ, start_response)

    def route(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return json_response({"detail": "Invalid token."}, 401)
        parts = request.path.strip("/").split("/")
        if parts[:2] != ["api", "v1"]:
            return json_response({"detail": "Not found."}, 404)
        if request.method != "GET":
            return self.write(request, parts[2:])
        match parts[2:]:
            case ["document_relations"]:
                return self.list_relations(request.args)
            case ["annotations", annotation_id] if int(annotation_id) in self.annotations:
                return json_response(self.annotations[int(annotation_id)])
            case ["documents", document_id] if int(document_id) in self.documents:
                return json_response(self.document_json(int(document_id)))
            case ["documents", document_id, "content"] if int(document_id) in self.documents:
                document = self.documents[int(document_id)]
                return Response(document["content_bytes"], mimetype=document["mime_type"])
            case ["annotations", annotation_id, "content"] if (
                int(annotation_id) in self.annotation_contents
            ):
                return json_response({"content": self.annotation_contents[int(annotation_id)]})
        return json_response({"detail": "Not found."}, 404)

    def write(self, request: Request, parts: list[str]) -> Response:
        """The calls that store replies: documents, relations, annotation metadata."""
        match request.method, parts:
            case "POST", ["documents"]:
                upload = request.files["content"]
                url = self.add_document(upload.read(), upload.content_type, upload.filename)
                return json_response(self.document_json(int(url.rsplit("/", 1)[1])), 201)
            case "DELETE", ["documents", document_id] if int(document_id) in self.documents:
                del self.documents[int(document_id)]
                return Response(status=204)
            case "POST", ["document_relations"]:
                body = request.get_json()
                return json_response(
                    self.add_relation(body["annotation"], body["key"], body["documents"]), 201
                )
            case "PATCH", ["document_relations", relation_id]:
                for relation in self.relations:
                    if relation["id"] == int(relation_id):
                        relation.update(request.get_json())
                        return json_response(relation)
            case "PATCH", ["hooks", hook_id]:
                self.hooks.setdefault(int(hook_id), {}).update(request.get_json())
                return json_response(self.hooks[int(hook_id)])
            case "PATCH", ["annotations", annotation_id] if int(annotation_id) in self.annotations:
                self.annotations[int(annotation_id)].update(request.get_json())
                return json_response(self.annotations[int(annotation_id)])
        return json_response({"detail": "Not found."}, 404)

    def list_relations(self, args) -> Response:
        annotation_url = f"{self.url}/api/v1/annotations/{args.get('annotation')}"
        results = [
            relation
            for relation in self.relations
            if relation["type"] == args.get("type")
            and relation["key"] == args.get("key")
            and relation["annotation"] == annotation_url
        ]
        return json_response({"pagination": {"total": len(results)}, "results": results})

    def document_json(self, document_id: int) -> dict:
        document = self.documents[document_id]
        url = f"{self.url}/api/v1/documents/{document_id}"
        return {
            "id": document_id,
            "url": url,
            "mime_type": document["mime_type"],
            "original_file_name": document["original_file_name"],
            "content": f"{url}/content",
        }


class MisbehavingTarget:
    """A raw-socket HTTP target that answers badly on purpose (SPEC §11 limits).

    ``behaviour``: ``huge`` (a 500 MB body, as fast as the client reads), ``endless``
    (a chunked body that never ends), ``redirect_endless`` (a 307 with an endless body to
    ``location``, a path of this server that answers 201), ``drip_before`` (the status
    line one byte per ``drip_s``), ``drip_after`` (status line and headers at once, then
    the body one byte per ``drip_s``). Each connection is served until the client hangs up.
    """

    HUGE_BYTES = 500 * 1024 * 1024
    BLOCK = b"x" * 65536

    def __init__(self, behaviour: str, drip_s: float = 1.0):
        self.behaviour = behaviour
        self.drip_s = drip_s
        self.location = ""  # a path on this server: redirect_endless points there
        self.paths: list[str] = []
        self.stopped = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests = 0
        self.threads = [threading.Thread(target=self.accept, daemon=True)]

    def start(self) -> "MisbehavingTarget":
        self.threads[0].start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        for thread in list(self.threads):
            thread.join(timeout=10)
        self.listener.close()

    def accept(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self.serve, args=(connection,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def serve(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(5)
            try:
                self.paths.append(self.read_request(connection))
                self.requests += 1
                if self.paths[-1] == self.location:  # where a redirect points: a plain answer
                    connection.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
                else:
                    getattr(self, self.behaviour)(connection)
            except OSError:
                pass  # the client hung up: what these targets wait for

    @staticmethod
    def read_request(connection: socket.socket) -> str:
        """Read one request; its path."""
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.recv(65536)
            if not chunk:
                raise ConnectionResetError
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        remaining = int(length[1]) - len(body) if length else 0
        while remaining > 0:
            remaining -= len(connection.recv(min(remaining, 65536)) or b"x" * remaining)
        return head.split(b" ", 2)[1].decode()

    def huge(self, connection: socket.socket) -> None:
        connection.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {self.HUGE_BYTES}\r\n\r\n".encode())
        for _ in range(self.HUGE_BYTES // len(self.BLOCK)):
            if self.stopped.is_set():
                return
            connection.sendall(self.BLOCK)

    def endless(self, connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        self.endless_chunks(connection)

    def endless_chunks(self, connection: socket.socket) -> None:
        chunk = b"%x\r\n%s\r\n" % (len(self.BLOCK), self.BLOCK)
        while not self.stopped.is_set():
            connection.sendall(chunk)

    def redirect_endless(self, connection: socket.socket) -> None:
        """A 307 to ``self.location`` whose body never ends."""
        connection.sendall(
            b"HTTP/1.1 307 Temporary Redirect\r\nLocation: %s\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" % self.location.encode()
        )
        self.endless_chunks(connection)

    def drip(self, connection: socket.socket, data: bytes) -> None:
        for byte in data:
            if self.stopped.wait(self.drip_s):
                return
            connection.sendall(bytes([byte]))

    def drip_before(self, connection: socket.socket) -> None:
        self.drip(connection, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}" * 100)

    def drip_after(self, connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        self.drip(connection, b"{" * 1000)
