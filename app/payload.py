"""The hook payload (SPEC §3), parsed and checked before anything is called."""

import json
from dataclasses import dataclass

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates_schema

from .errors import PayloadError, Problem
from .validation import StringMapping, json_type, problems_from

EXPORT_EVENTS = frozenset({"annotation_content", "annotation_status"})


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
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise PayloadError([Problem("", "the body is not valid JSON")]) from None
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


def parse_payload(data: dict) -> HookPayload:
    """Check an export event's payload and return what the export uses."""
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
