"""Multipart file names are quoted strings, read back as written (SPEC §4)."""

import threading

import pytest
import python_multipart
from werkzeug.wrappers import Request, Response

from tests.servers import ServerThread

FILE_NAMES = [
    'say "hi".csv',
    "back\\slash.csv",
    'both \\" mixed.csv',
    "trailing backslash\\",
    "faktura č. 42 – Příloha ü.pdf",
    "emoji 😀 and 'single' quotes; semi=colon.csv",
]
# werkzeug undoes the %22 that browsers write for '"', so only python-multipart keeps it.
LITERAL_ESCAPE = "percent %22 stays %22.csv"


class PythonMultipartTarget:
    """A target that parses multipart bodies with python-multipart, as FastAPI does."""

    def __init__(self):
        self.parts: list[dict] = []
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        request = Request(environ)
        parts = {}

        def on_field(field):
            parts[field.field_name.decode()] = ("field", field.value.decode())

        def on_file(file):
            file.file_object.seek(0)
            parts[file.field_name.decode()] = (file.file_name.decode(), file.file_object.read())

        headers = {"Content-Type": request.headers["Content-Type"].encode()}
        python_multipart.parse_form(headers, request.stream, on_field, on_file)
        with self.lock:
            self.parts.append(parts)
        return Response("ok")(environ, start_response)


@pytest.fixture
def fastapi_like():
    recorder = PythonMultipartTarget()
    server = ServerThread(recorder).start()
    recorder.url = server.url
    yield recorder
    server.stop()


def multipart_settings(url: str, file_name: str) -> dict:
    return {
        "export_reference_key": "export_annotation_to_csv",
        "request": {
            "url": url,
            "file_key": "file",
            "file_name": file_name,
            "request_data": {"note": 'a "quoted" note'},
        },
        "deduplicate": False,
    }


@pytest.mark.parametrize("file_name", FILE_NAMES)
def test_werkzeug_reads_the_file_name_back_exactly(post_hook, payload_for, target, file_name):
    post_hook(payload_for(multipart_settings(f"{target.url}/upload", file_name)))

    [received] = target.requests
    assert received.files["file"][0] == file_name
    assert received.form == {"note": 'a "quoted" note'}
    assert b"%22" not in received.body
    assert b"filename*" not in received.body


@pytest.mark.parametrize("file_name", [*FILE_NAMES, LITERAL_ESCAPE])
def test_python_multipart_reads_the_file_name_back_exactly(
    post_hook, payload_for, fastapi_like, file_name
):
    _, answer = post_hook(payload_for(multipart_settings(f"{fastapi_like.url}/upload", file_name)))

    assert answer["messages"][0]["type"] == "info", answer
    [parts] = fastapi_like.parts
    assert parts["file"] == (file_name, b"document_id,amount_total\nINV-2024-0042,1234.50\n")
    assert parts["note"] == ("field", 'a "quoted" note')
