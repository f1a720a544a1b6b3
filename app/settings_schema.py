"""The settings' JSON Schema (draft 7), generated from the marshmallow schemas.

One source of truth: the fields, their types, defaults, choices, ranges and
descriptions come from :mod:`app.settings`; the few rules that live in schema-level
validators there (one body per request, file_name only with file_key) are stated
once more here, in JSON Schema terms, next to a test that holds the two together.
"""

from marshmallow import Schema, fields, validate

from .json_templating import OPERATORS, VALUE_TYPES
from .reply_settings import SELECTORS, ExtractRuleSchema
from .settings import AuthSchema, ExportConfigsSchema, ExportSchema, RequestSchema
from .validation import HttpMethod, JsonTemplate, LegacyBody, StringMapping, TemplateMapping

DRAFT = "http://json-schema.org/draft-07/schema#"

# RequestSchema.check_one_body, in JSON Schema.
REQUEST_RULES = {
    "dependencies": {"file_name": ["file_key"], "file_content": ["file_key"]},
    "allOf": [
        {"not": {"required": ["content", "file_key"]}},
        {"not": {"required": ["content", "request_data"]}},
        {"not": {"required": ["content", "data"]}},
        {
            "if": {"required": ["data"], "properties": {"data": {"type": "string"}}},
            "then": {
                "not": {"anyOf": [{"required": ["file_key"]}, {"required": ["request_data"]}]}
            },
            "else": {"not": {"required": ["data", "request_data"]}},
        },
    ],
}

# AuthSchema.check_basic_has_client_id, in JSON Schema.
AUTH_RULES = {
    "if": {"required": ["client_auth"], "properties": {"client_auth": {"const": "basic"}}},
    "then": {"required": ["data"], "properties": {"data": {"required": ["client_id"]}}},
}

# ExtractRuleSchema.check_one_selector, in JSON Schema.
EXTRACT_RULES = {"oneOf": [{"required": [name]} for name in SELECTORS]}

# Rules of schema-level validators, stated in JSON Schema, by the schema they belong to.
SCHEMA_RULES = (
    (RequestSchema, REQUEST_RULES),
    (AuthSchema, AUTH_RULES),
    (ExtractRuleSchema, EXTRACT_RULES),
)


def operator_definition(name: str) -> dict:
    required, optional = OPERATORS[name]
    properties = {key: {} for key in sorted(required | optional)}
    properties["schema_id"] = {"type": "string"}
    if "value_type" in properties:
        properties["value_type"] = {"enum": list(VALUE_TYPES)}
    if name == "$DATAPOINT_MAPPING$":
        properties["mapping"] = {
            "type": "object",
            "additionalProperties": {"$ref": "#/definitions/template"},
        }
    for key in ("mapping", "fallback_mapping"):
        if key in properties and not properties[key]:
            properties[key] = {"$ref": "#/definitions/template"}
    return {
        "type": "object",
        "required": [name],
        "additionalProperties": False,
        "properties": {
            name: {
                "type": "object",
                "required": sorted(required),
                "additionalProperties": False,
                "properties": properties,
            }
        },
    }


DEFINITIONS = {
    "operator": {"oneOf": [operator_definition(name) for name in OPERATORS]},
    "template": {
        "description": "a JSON value; strings take placeholders, operators are replaced",
        "anyOf": [
            {"$ref": "#/definitions/operator"},
            {
                "type": "object",
                "propertyNames": {"not": {"enum": list(OPERATORS)}},
                "additionalProperties": {"$ref": "#/definitions/template"},
            },
            {"type": "array", "items": {"$ref": "#/definitions/template"}},
            {"type": ["string", "number", "boolean", "null"]},
        ],
    },
}


def field_schema(field: fields.Field) -> dict:
    """One marshmallow field as JSON Schema."""
    schema = type_of(field)
    description = field.metadata.get("description")
    if description:
        schema["description"] = description
    if (
        field.load_default is not None
        and not callable(field.load_default)
        and (field.load_default is not fields.missing_)
    ):
        schema["default"] = field.load_default
    for validator in getattr(field, "validators", []):
        schema.update(validator_schema(validator, field))
    return schema


def type_of(field: fields.Field) -> dict:
    if isinstance(field, fields.Nested):
        return object_schema(field.schema)
    if isinstance(field, fields.List):
        return {"type": "array", "items": field_schema(field.inner)}
    if isinstance(field, HttpMethod):
        return {"type": "string", "pattern": "^[A-Za-z]+$"}
    if isinstance(field, StringMapping):
        return {"type": "object", "additionalProperties": {"type": "string"}}
    if isinstance(field, TemplateMapping):
        return {
            "type": "object",
            "additionalProperties": {
                "anyOf": [{"type": "string"}, {"$ref": "#/definitions/operator"}]
            },
        }
    if isinstance(field, JsonTemplate):
        return {
            "anyOf": [
                {"type": "string"},
                {"type": ["object", "array"], "$ref": "#/definitions/template"},
            ]
        }
    if isinstance(field, LegacyBody):
        return {"anyOf": [{"type": "string"}, type_of(TemplateMapping())]}
    for kind, name in (
        (fields.Boolean, "boolean"),
        (fields.Integer, "integer"),
        (fields.String, "string"),
    ):
        if isinstance(field, kind):
            return {"type": name}
    return {}


def validator_schema(validator, field: fields.Field) -> dict:
    if isinstance(validator, validate.OneOf):
        if isinstance(field, HttpMethod):  # case-insensitive, as the field upper-cases
            alternatives = "|".join(
                "".join(f"[{c.upper()}{c.lower()}]" for c in choice) for choice in validator.choices
            )
            return {"pattern": f"^({alternatives})$"}
        return {"enum": list(validator.choices)}
    if isinstance(validator, validate.Range):
        return {"minimum": validator.min, "maximum": validator.max}
    if isinstance(validator, validate.Length) and validator.min is not None:
        return {"minItems": validator.min}
    return {}


def object_schema(schema: Schema) -> dict:
    result = {
        "type": "object",
        "additionalProperties": False,
        "properties": {name: field_schema(f) for name, f in schema.fields.items()},
    }
    required = [name for name, f in schema.fields.items() if f.required]
    if required:
        result["required"] = required
    for schema_class, rules in SCHEMA_RULES:
        if isinstance(schema, schema_class):
            result.update(rules)
    return result


def settings_json_schema() -> dict:
    """The settings: one export object, or the export_configs list of them."""
    return {
        "$schema": DRAFT,
        "title": "REST API export settings",
        "oneOf": [object_schema(ExportSchema()), object_schema(ExportConfigsSchema())],
        "definitions": DEFINITIONS,
    }
