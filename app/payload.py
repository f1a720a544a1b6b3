"""The hook payload (SPEC §3), parsed and checked before anything is called."""

from dataclasses import dataclass

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates_schema

from .errors import PayloadError, Problem
from .json_limits import InvalidJSON, load_json
from .validation import StringMapping, json_type, problems_from

# The only calls that export (SPEC §3); an annotation_status call also needs the
# annotation's status to be "exporting".
EXPORT_ACTIONS = frozenset({("annotation_content", "export"), ("annotation_status", "changed")})
EXPORTING_STATUS = "exporting"


class LenientSchema(Schema):
    """Rossum sends more fields than we use; those are ignored."""

    class Meta:
        unknown = EXCLUDE


class AnnotationSchema(LenientSchema):
    id = fields.Integer(required=True, strict=True)
    url = fields.String(required=True)
    content = fields.Raw(required=True)
    metadata = fields.Raw(load_default=dict, allow_none=True)  # its receipts (SPEC §9)


class DocumentSchema(LenientSchema):
    url = fields.String()
    content = fields.String(required=True)
    mime_type = fields.String(load_default="application/octet-stream")
    original_file_name = fields.String(load_default="document")


class HookPayloadSchema(LenientSchema):
    event = fields.String(required=True)
    action = fields.String(load_default="")
    request_id = fields.String(load_default="")
    base_url = fields.String(required=True)
    rossum_authorization_token = fields.String(required=True)
    hook = fields.String(required=True)
    settings = fields.Dict(required=True)
    secrets = StringMapping(load_default=dict)
    annotation = fields.Nested(AnnotationSchema, required=True)
    document = fields.Nested(DocumentSchema)

    @validates_schema(skip_on_field_errors=True)
    def check_content_shape(self, data, **kwargs):
        content = data["annotation"]["content"]
        if data["event"] == "annotation_content" and not isinstance(content, list):
            raise ValidationError(
                f"must be the content tree (an array), not {json_type(content)}",
                "annotation.content",
            )
        if data["event"] == "annotation_status" and not isinstance(content, str):
            raise ValidationError(
                f"must be the URL of the content, not {json_type(content)}", "annotation.content"
            )


HOOK_PAYLOAD_SCHEMA = HookPayloadSchema()  # schemas are reusable; building one is not cheap


@dataclass(frozen=True)
class HookPayload:
    """The fields of a Rossum hook call that the export uses."""

    event: str
    action: str
    request_id: str
    base_url: str
    rossum_token: str
    hook_url: str
    settings: dict
    secrets: dict
    annotation: dict
    document: dict | None

    @property
    def annotation_id(self) -> int:
        return self.annotation["id"]


def parse_json_body(body: bytes) -> dict:
    """The request body as a JSON object, or a :class:`PayloadError`."""
    try:
        data = load_json(body)
    except InvalidJSON as invalid:
        raise PayloadError([invalid.problem]) from None
    if not isinstance(data, dict):
        raise PayloadError([Problem("", f"must be a JSON object, not {json_type(data)}")])
    return data


def event_of(data: dict) -> str:
    """The payload's ``event``; it is required whatever the event is."""
    event = data.get("event")
    if not isinstance(event, str):
        message = "is required" if event is None else f"must be a string, not {json_type(event)}"
        raise PayloadError([Problem("event", message)])
    return event


def ignored_call(data: dict) -> str | None:
    """What a call that must not export is (``annotation_content updated``...), else None.

    Any other event or action — an edit, a confirmation, a status change to anything
    but ``exporting`` — is answered with nothing: a hook registered for more events
    than it should must never send an invoice on every edit.
    """
    event, action = event_of(data), data.get("action")
    described = f"{event} {action}" if isinstance(action, str) else f"{event} without an action"
    if (event, action) not in EXPORT_ACTIONS:
        return described
    annotation = data.get("annotation")
    if event == "annotation_status" and isinstance(annotation, dict):
        status = annotation.get("status")
        if status != EXPORTING_STATUS:
            return f"{described} to status {status!r}"
    return None  # an export call; a malformed annotation is the payload check's to answer


def parse_payload(data: dict) -> HookPayload:
    """Check an export event's payload and return what the export uses."""
    return well_formed_payload(data) or schema_checked_payload(data)


def schema_checked_payload(data: dict) -> HookPayload:
    """The payload as the schema loads it, or a :class:`PayloadError` naming each problem."""
    schema = HOOK_PAYLOAD_SCHEMA
    try:
        loaded = schema.load(data)
    except ValidationError as error:
        raise PayloadError(problems_from(error.messages, schema)) from None
    return HookPayload(
        event=loaded["event"],
        action=loaded["action"],
        request_id=loaded["request_id"],
        base_url=loaded["base_url"].rstrip("/"),
        rossum_token=loaded["rossum_authorization_token"],
        hook_url=loaded["hook"],
        settings=loaded["settings"],
        secrets=loaded["secrets"],
        annotation=loaded["annotation"],
        document=loaded.get("document"),
    )


def well_formed_payload(data: dict) -> HookPayload | None:
    """The payload when every field the export uses plainly has the type the schema asks
    for — every call Rossum makes — else None, and the schema says what is wrong.

    It gives what the schema would give (the same defaults, the same keys kept), without
    the schema's work per field on every hook call; tests/test_payload.py holds it to the
    schema over every field set to every JSON type.
    """
    get = data.get
    strings = (
        event := get("event"),
        action := get("action", ""),
        request_id := get("request_id", ""),
        base_url := get("base_url"),
        token := get("rossum_authorization_token"),
        hook := get("hook"),
    )
    settings, secrets, annotation = get("settings"), get("secrets", {}), get("annotation")
    if not all(type(value) is str for value in strings):
        return None
    if not (type(settings) is type(secrets) is type(annotation) is dict):
        return None
    if not all(type(value) is str for value in secrets.values()):
        return None
    loaded_annotation = well_formed_annotation(annotation, event)
    if loaded_annotation is None:
        return None
    document = get("document")
    if "document" in data:
        document = well_formed_document(document)
        if document is None:
            return None
    return HookPayload(
        event=event,
        action=action,
        request_id=request_id,
        base_url=base_url.rstrip("/"),
        rossum_token=token,
        hook_url=hook,
        settings=dict(settings),
        secrets=dict(secrets),
        annotation=loaded_annotation,
        document=document,
    )


# What the annotation's content must be for each event (check_content_shape).
CONTENT_TYPES = {"annotation_content": list, "annotation_status": str}


def well_formed_annotation(annotation: dict, event: str) -> dict | None:
    annotation_id, url = annotation.get("id"), annotation.get("url")
    content = annotation.get("content")
    if type(annotation_id) is not int or type(url) is not str or content is None:
        return None
    if event in CONTENT_TYPES and type(content) is not CONTENT_TYPES[event]:
        return None
    metadata = annotation.get("metadata", {})
    return {"id": annotation_id, "url": url, "content": content, "metadata": metadata}


def well_formed_document(document) -> dict | None:
    if type(document) is not dict:
        return None
    loaded = {}
    if "url" in document:
        loaded["url"] = document["url"]
    loaded["content"] = document.get("content")
    loaded["mime_type"] = document.get("mime_type", "application/octet-stream")
    loaded["original_file_name"] = document.get("original_file_name", "document")
    if not all(type(value) is str for value in loaded.values()):
        return None
    return loaded
