"""The hook's settings (SPEC §4): marshmallow schemas and the typed objects they load.

Every key is known here, including those whose behaviour lives in other modules;
an unknown key anywhere is an error naming its path, so a typo is never ignored.
"""

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from .errors import Problem, SettingsError
from .json_limits import json_problem
from .reply_settings import ExtractRuleSchema, ReplyRuleSchema
from .validation import (
    HttpMethod,
    JsonTemplate,
    LegacyBody,
    StrictSchema,
    StringMapping,
    TemplateMapping,
    described,
    json_type,
    one_of,
    problems_from,
)

FILE_PLACEHOLDERS = ("#{file_content}", "#{original_file}")

STATUS_CODE = fields.Integer(strict=True, validate=validate.Range(100, 599))


@dataclass(frozen=True)
class RequestSettings:
    url: str
    method: str = "POST"
    headers: dict = field(default_factory=dict)
    content: str | dict | list | None = None
    file_key: str | None = None
    file_name: str | None = None
    file_content: str | None = None
    request_data: dict | None = None


@dataclass(frozen=True)
class AuthSettings:
    url: str
    canonical_json: str = field(default="{}", repr=False)  # identifies the auth object
    method: str = "POST"
    headers: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    token_path: str | None = None
    refresh_status_codes: tuple = ()
    client_auth: str = "body"


@dataclass(frozen=True)
class StatusCodeResolver:
    error: tuple = ()
    warning: tuple = ()


@dataclass(frozen=True)
class ExportSettings:
    """One export object; ``path`` is where it sits in the settings (for messages)."""

    request: RequestSettings
    path: str = ""
    export_reference_key: str | None = None
    auth: AuthSettings | None = None
    condition: str | None = None
    response_headers_reference_key: str | None = None
    response_payload_reference_key: str | None = None
    transcript_reference_key: str | None = None
    status_code_resolver: StatusCodeResolver | None = None
    mode: str = "wait"
    iterate_over: str | None = None
    extract: tuple = ()
    reply_rules: tuple = ()
    deduplicate: bool = True


class RequestSchema(StrictSchema):
    url = fields.String(**described("URL of the request; placeholders allowed", required=True))
    method = HttpMethod(**described("HTTP method (default POST)", load_default="POST"))
    headers = TemplateMapping(
        **described("request headers; values are templates or templating operators")
    )
    content = JsonTemplate(
        **described(
            "raw body: a template ('#{file_content}' sends the file unchanged), or a JSON "
            "object/array rendered with the templating operators and sent as JSON"
        )
    )
    data = LegacyBody(**described("older spelling: a string means content, an object request_data"))
    file_key = fields.String(**described("multipart: name of the file part"))
    file_name = fields.String(**described("multipart: file name of the file part"))
    file_content = fields.String(
        **described(
            "multipart: which file the file part carries",
            validate=one_of(FILE_PLACEHOLDERS),
        )
    )
    request_data = TemplateMapping(
        **described("form fields (form-urlencoded or multipart); templates or operators")
    )

    @validates_schema(skip_on_field_errors=False)
    def check_one_body(self, data, **kwargs):
        legacy = data.get("data")
        if legacy is not None and not isinstance(legacy, (str, dict)):
            raise ValidationError(f"must be a string or an object, not {json_type(legacy)}", "data")
        if isinstance(legacy, dict):
            try:
                TemplateMapping().deserialize(legacy)
            except ValidationError as error:
                raise ValidationError(error.messages, "data") from None
        if isinstance(legacy, str) and "content" in data:
            raise ValidationError("give content or data, not both", "data")
        if isinstance(legacy, dict) and "request_data" in data:
            raise ValidationError("give request_data or data, not both", "data")
        has_content = "content" in data or isinstance(legacy, str)
        has_form = "file_key" in data or "request_data" in data or isinstance(legacy, dict)
        if has_content and has_form:
            raise ValidationError(
                "a request has one body: content, or file_key/request_data, not both", "content"
            )
        for key in ("file_name", "file_content"):
            if key in data and "file_key" not in data:
                raise ValidationError("is only used together with file_key", key)

    @post_load
    def make_request(self, data, **kwargs):
        legacy = data.pop("data", None)
        if isinstance(legacy, str):
            data["content"] = legacy
        elif isinstance(legacy, dict):
            data["request_data"] = legacy
        return RequestSettings(**data)


class AuthSchema(StrictSchema):
    url = fields.String(**described("token endpoint URL", required=True))
    method = HttpMethod(
        **described(
            "HTTP method of the token request (POST or GET)",
            load_default="POST",
            validate=one_of(["POST", "GET"]),
        )
    )
    headers = StringMapping(**described("headers of the token request"))
    data = StringMapping(**described("fields of the token request body"))
    token_path = fields.String(**described("dotted path of the token in the reply (data.token)"))
    refresh_status_codes = fields.List(
        STATUS_CODE, **described("statuses besides 401 that mean the token expired")
    )
    client_auth = fields.String(
        **described(
            "how the client authenticates: body (client_id/client_secret in the body, as "
            "written) or basic (as HTTP Basic credentials, RFC 6749 §2.3.1)",
            load_default="body",
            validate=one_of(["body", "basic"]),
        )
    )

    @validates_schema(skip_on_field_errors=True)
    def check_basic_has_client_id(self, data, **kwargs):
        if data.get("client_auth") == "basic" and "client_id" not in data.get("data", {}):
            raise ValidationError("basic needs client_id in auth.data", "client_auth")

    @post_load(pass_original=True)
    def make_auth(self, data, original, **kwargs):
        data["refresh_status_codes"] = tuple(data.get("refresh_status_codes", ()))
        data["canonical_json"] = json.dumps(original, sort_keys=True, separators=(",", ":"))
        return AuthSettings(**data)


class StatusCodeResolverSchema(StrictSchema):
    error = fields.List(STATUS_CODE, **described("statuses that fail the export"))
    warning = fields.List(STATUS_CODE, **described("statuses that give a warning"))

    @post_load
    def make_resolver(self, data, **kwargs):
        return StatusCodeResolver(**{key: tuple(codes) for key, codes in data.items()})


class ExportSchema(StrictSchema):
    export_reference_key = fields.String(
        **described("key of the export document relation whose document is #{file_content}")
    )
    request = fields.Nested(RequestSchema, **described("the request to send", required=True))
    auth = fields.Nested(AuthSchema, **described("how to get an OAuth2 access token"))
    condition = fields.String(**described("export only when this renders non-empty, not false"))
    response_headers_reference_key = fields.String(**described("store the reply's headers"))
    response_payload_reference_key = fields.String(**described("store the reply's body"))
    transcript_reference_key = fields.String(**described("store a redacted transcript"))
    status_code_resolver = fields.Nested(
        StatusCodeResolverSchema, **described("reply statuses that mean error or warning")
    )
    mode = fields.String(
        **described(
            "wait (one attempt) or retry",
            load_default="wait",
            validate=one_of(["wait", "retry"]),
        )
    )
    iterate_over = fields.String(
        **described(
            "schema_id of a multivalue's rows (line_item): the request is sent once per row, "
            "the row the scope of its placeholders"
        )
    )
    extract = fields.List(
        fields.Nested(ExtractRuleSchema), **described("write reply values into the annotation")
    )
    reply_rules = fields.List(
        fields.Nested(ReplyRuleSchema),
        **described("messages and failure decided from the reply's content, in order"),
    )
    deduplicate = fields.Boolean(
        **described(
            "never send the same export twice (default true)",
            load_default=True,
            truthy={True},
            falsy={False},
        )
    )

    @post_load
    def make_export(self, data, **kwargs):
        data["extract"] = tuple(data.get("extract", ()))
        data["reply_rules"] = tuple(data.get("reply_rules", ()))
        return ExportSettings(**data)


class ExportConfigsSchema(StrictSchema):
    export_configs = fields.List(
        fields.Nested(ExportSchema),
        **described(
            "export objects run in order; the first failure stops the rest",
            required=True,
            validate=validate.Length(min=1, error="must hold at least one export object"),
        ),
    )


# Schemas are reusable across calls and threads; building one is not cheap.
EXPORT_SCHEMA, EXPORT_CONFIGS_SCHEMA = ExportSchema(), ExportConfigsSchema()


def settings_schema_for(settings: dict) -> Schema:
    """The list form when ``export_configs`` is present, else one export object."""
    return EXPORT_CONFIGS_SCHEMA if "export_configs" in settings else EXPORT_SCHEMA


def load_settings(settings: dict) -> list[ExportSettings]:
    """Validate hook settings and return the export objects to run, in order."""
    if not isinstance(settings, dict):
        raise SettingsError([Problem("", f"settings must be an object, not {json_type(settings)}")])
    if shape_problem := json_problem(settings):  # too deep, or text that cannot be encoded
        raise SettingsError([shape_problem])
    schema = settings_schema_for(settings)
    try:
        loaded = schema.load(settings)
    except ValidationError as error:
        raise SettingsError(problems_from(error.messages, schema)) from None
    if isinstance(loaded, ExportSettings):
        return [loaded]
    return [
        replace(export, path=f"export_configs[{index}]")
        for index, export in enumerate(loaded["export_configs"])
    ]


SETTINGS_REMEMBERED = 256  # distinct settings objects whose validation is kept


class _LoadedSettings:
    """The export objects of the most recently used distinct settings, validated once.

    Keyed by the settings' exact JSON text (key order kept, so a remembered result is
    the one a fresh load would give); the least recently used is forgotten first.
    The loaded objects are frozen dataclasses, never changed after loading.
    """

    def __init__(self, size: int):
        self.size = size
        self.lock = threading.Lock()
        self.loaded: OrderedDict[str, tuple[ExportSettings, ...]] = OrderedDict()

    def __call__(self, settings: dict) -> list[ExportSettings]:
        try:
            key = json.dumps(settings, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError):  # not JSON: not a hook's settings, never remembered
            return load_settings(settings)
        with self.lock:
            exports = self.loaded.get(key)
            if exports is not None:
                self.loaded.move_to_end(key)
                return list(exports)
        exports = tuple(load_settings(settings))  # an invalid one raises: not remembered
        with self.lock:
            self.loaded[key] = exports
            self.loaded.move_to_end(key)
            while len(self.loaded) > self.size:
                self.loaded.popitem(last=False)
        return list(exports)


load_settings_once = _LoadedSettings(SETTINGS_REMEMBERED)
