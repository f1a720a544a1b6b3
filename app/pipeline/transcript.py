"""What an export sends and does, summarised with every secret masked (SPEC §2, §8).

:func:`summarize_request` serves ``/preview``; :class:`Transcript` is the document
``transcript_reference_key`` stores: the rendered request, the placeholders and files
used, the token step, each attempt with its timing and outcome, and the reply's head.
"""

import json
import time

from ..redaction import MASK, SENSITIVE_HEADERS, Redactor
from ..templating import PLACEHOLDER
from .delivery import OutgoingRequest, Reply

TEXT_HEAD = 500


def summarize_body(data, files, redactor: Redactor):
    if files is not None:
        parts = []
        for name, (file_name, content, *content_type) in files:
            if file_name is None:
                parts.append({"name": name, "text": redactor.text(str(content))[:TEXT_HEAD]})
            else:
                parts.append(
                    {
                        "name": name,
                        "filename": file_name,
                        "content_type": content_type[0] if content_type else None,
                        "size": size_of(content),
                    }
                )
        return {"type": "multipart", "parts": parts}
    if isinstance(data, dict):
        return {"type": "form", "fields": {k: redactor.text(v) for k, v in data.items()}}
    if data is None:
        return None
    return {"type": "raw", "size": size_of(data), **text_head(head_of(data), redactor)}


def size_of(content) -> int:
    if isinstance(content, (bytes, str)):
        return len(content)
    position = content.tell()
    size = content.seek(0, 2)
    content.seek(position)
    return size


def head_of(content) -> bytes:
    """The first bytes of a body, without consuming a file."""
    if isinstance(content, bytes):
        return content[: TEXT_HEAD * 4]
    position = content.tell()
    content.seek(0)
    head = content.read(TEXT_HEAD * 4)
    content.seek(position)
    return head


def text_head(data: bytes, redactor: Redactor) -> dict:
    """The start of a body as text, or a note that it is binary."""
    try:
        text = data[: TEXT_HEAD * 4].decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data[: TEXT_HEAD * 4 - 3].decode("utf-8")  # cut inside a character
        except UnicodeDecodeError:
            return {"binary": True}
    return {"text_head": redactor.text(text)[:TEXT_HEAD]}


def summarize_request(request: OutgoingRequest, redactor: Redactor) -> dict:
    return {
        "method": request.method,
        "url": redactor.text(request.url),
        "headers": {
            name: MASK if name.lower() in SENSITIVE_HEADERS else redactor.text(value)
            for name, value in request.headers.items()
        },
        "body": summarize_body(request.data, request.files, redactor),
    }


def placeholders_in(templates: list[str]) -> list[str]:
    """The placeholders the templates use, each once, in order."""
    found = [match[0] for template in templates for match in PLACEHOLDER.finditer(template)]
    return list(dict.fromkeys(found))


class Transcript:
    """A running record of one export, turned into a JSON document at the end."""

    def __init__(self, redactor: Redactor, wanted: bool):
        self.redactor = redactor
        self.wanted = wanted  # off: every recording step is skipped (no work on the hot path)
        self.started = time.monotonic()
        self.document: dict = {"token": None, "requests": [], "attempts": [], "reply": None}

    def note(self, key: str, value) -> None:
        if not self.wanted:
            return
        self.document[key] = value

    def request(self, request: OutgoingRequest) -> None:
        if not self.wanted:
            return
        self.document["requests"].append(summarize_request(request, self.redactor))

    def attempts(self, outcomes: list[tuple[float, str]]) -> None:
        if not self.wanted:
            return
        self.document["attempts"] += [
            {"at_ms": round(at * 1000), "outcome": outcome} for at, outcome in outcomes
        ]

    def reply(self, reply: Reply) -> None:
        if not self.wanted:
            return
        self.document["reply"] = {
            "status_code": reply.status_code,
            "attempts": reply.attempts,
            "elapsed_ms": round(reply.elapsed_s * 1000),
            **text_head(reply.body, self.redactor),
        }

    def to_bytes(self) -> bytes:
        self.document["duration_ms"] = round((time.monotonic() - self.started) * 1000)
        return self.redactor.text(json.dumps(self.document, ensure_ascii=False)).encode()
