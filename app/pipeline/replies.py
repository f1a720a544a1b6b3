"""The target's reply: status code resolver, messages, and the copies stored in Rossum (SPEC §8)."""

import json
import re

from .. import messages
from ..errors import RossumAPIError
from ..messages import HookAnswer, Message
from ..redaction import Redactor
from ..settings import ExportSettings
from .context import HookContext
from .delivery import OutgoingRequest, Reply
from .extract import extract_operations
from .receipts import note_delivered

QUOTED_BODY_LIMIT = 1000

# The stored payload document's name and type follow the reply's Content-Type.
PAYLOAD_EXTENSIONS = (("json", ".json"), ("xml", ".xml"), ("text/", ".txt"))


def handle_reply(
    settings: ExportSettings, context: HookContext, request: OutgoingRequest, reply: Reply
) -> HookAnswer:
    """Messages for the reply; the reply stored in Rossum; values extracted into operations."""
    outcome = HookAnswer([status_message(settings, request, reply, context.redactor)])
    if not outcome.failed:  # delivered: its receipt goes with the stored replies' metadata
        note_delivered(context.receipts, settings.deduplicate, request.idempotency_key)
    # Stored also when the resolver says error: the next extensions need the reply.
    try:
        store_reply(settings, context, reply)
    except RossumAPIError as failure:
        # Fails the export, so nothing downstream reads a reply that is not there.
        outcome.messages.append(
            messages.error(f"Export sent, but storing the reply in Rossum failed: {failure}")
        )
        return outcome
    if settings.extract and not outcome.failed:
        operations, notes = extract_operations(
            settings.extract, reply_document(reply), context.content, context.redactor
        )
        outcome.operations.extend(operations)
        outcome.messages.extend(notes)
    return outcome


def status_message(
    settings: ExportSettings, request: OutgoingRequest, reply: Reply, redactor: Redactor
) -> Message:
    """``error``/``warning`` for the resolver's codes, else ``info`` (SPEC §8)."""
    answered = f"{request.method} {request.host} answered {reply.status_code} {reply.reason}"
    answered = answered.rstrip()
    if reply.attempts > 1:
        answered += f" after {reply.attempts} attempts"
    resolver = settings.status_code_resolver
    if resolver and reply.status_code in resolver.error:
        return messages.error(f"Export failed: {answered}: {quote_body(reply, redactor)}")
    if resolver and reply.status_code in resolver.warning:
        return messages.warning(
            f"Exported with a warning: {answered}: {quote_body(reply, redactor)}"
        )
    return messages.info(f"Exported: {answered}")


def content_type_of(reply: Reply) -> str:
    return next((v for n, v in reply.headers if n.lower() == "content-type"), "")


def body_text(reply: Reply) -> str | None:
    """The body decoded as text (charset of the Content-Type, else UTF-8), or None if binary."""
    content_type = content_type_of(reply).lower()
    charset = re.search(r"charset=\"?([\w.-]+)", content_type)
    try:
        text = reply.body.decode(charset[1] if charset else "utf-8")
    except (UnicodeDecodeError, LookupError):
        return None
    if "\x00" in text:
        return None
    return text


def quote_body(reply: Reply, redactor: Redactor) -> str:
    """The reply body for a message: text trimmed to a readable length, binary summarised."""
    if not reply.body:
        return "(empty body)"
    text = body_text(reply)
    if text is None:
        kind = content_type_of(reply) or "unknown type"
        return f"({len(reply.body)} bytes of {kind})"
    text = redactor.text(text.strip())
    if len(text) > QUOTED_BODY_LIMIT:
        return text[:QUOTED_BODY_LIMIT] + "…"
    return text


def snake_case(header_name: str) -> str:
    """``Content-Type`` -> ``content_type``."""
    return re.sub(r"[^0-9a-z]+", "_", header_name.lower()).strip("_")


def snake_case_headers(reply: Reply) -> dict[str, str]:
    """Header values by lower_snake_case name; repeated headers joined as HTTP joins them."""
    joined: dict[str, list[str]] = {}
    for name, value in reply.headers:
        joined.setdefault(snake_case(name), []).append(value)
    return {name: ", ".join(values) for name, values in joined.items()}


def headers_document(reply: Reply) -> dict:
    return {
        "status_code": reply.status_code,
        "headers": snake_case_headers(reply),
        "raw": [[name, value] for name, value in reply.headers],
    }


def reply_document(reply: Reply) -> dict:
    """What ``extract`` rules are evaluated on."""
    text = body_text(reply)
    try:
        body = json.loads(text) if text is not None else None
    except ValueError:
        body = text
    return {"status_code": reply.status_code, "headers": snake_case_headers(reply), "body": body}


def payload_file(key: str, reply: Reply) -> tuple[str, str]:
    """File name and content type of the stored reply body."""
    content_type = content_type_of(reply).split(";")[0].strip().lower()
    for marker, extension in PAYLOAD_EXTENSIONS:
        if marker in content_type:
            return f"{key}{extension}", content_type
    return f"{key}.bin", content_type or "application/octet-stream"


def store_reply(settings: ExportSettings, context: HookContext, reply: Reply) -> None:
    """Store the reply's headers and/or body as export documents and note them in metadata."""
    redactor = context.redactor
    files = {}
    if settings.response_headers_reference_key:
        key = settings.response_headers_reference_key
        document = json.dumps(redactor.tree(headers_document(reply)), ensure_ascii=False)
        files[key] = (f"{key}.json", document.encode(), "application/json")
    if settings.response_payload_reference_key:
        key = settings.response_payload_reference_key
        file_name, content_type = payload_file(key, reply)
        files[key] = (file_name, redactor.bytes(reply.body), content_type)
    if files:
        context.store_documents(files)
