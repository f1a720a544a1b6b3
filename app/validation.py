"""Shared validation pieces: strict schemas, string maps, and errors as JSON paths."""

import difflib
import re

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from .errors import Problem
from .json_templating import is_operator, operator_problems


def described(description: str, **kwargs) -> dict:
    """Field keyword arguments with a description (used by the settings JSON Schema)."""
    return {"metadata": {"description": description}, **kwargs}


def one_of(choices) -> validate.OneOf:
    return validate.OneOf(choices, error="must be one of {choices}, not {input!r}")


class StrictSchema(Schema):
    """A schema that rejects unknown keys."""

    class Meta:
        unknown = RAISE


class StringMapping(fields.Field):
    """A JSON object whose values are all strings (headers, form fields, token data)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("must be an object of strings")
        errors = {
            key: [f"must be a string, not {json_type(item)}"]
            for key, item in value.items()
            if not isinstance(item, str)
        }
        if errors:
            raise ValidationError(errors)
        return dict(value)


class TemplateMapping(fields.Field):
    """A JSON object whose values are string templates or JSON templating operators."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("must be an object")
        errors = {}
        for key, item in value.items():
            if isinstance(item, str):
                continue
            if not is_operator(item):
                errors[key] = [f"must be a string or a templating operator, not {json_type(item)}"]
            elif problems := operator_problems(item):
                errors[key] = problems
        if errors:
            raise ValidationError(errors)
        return dict(value)


class JsonTemplate(fields.Field):
    """A string template, or a JSON object/array rendered with the templating operators."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            return value
        if not isinstance(value, (dict, list)):
            raise ValidationError(
                f"must be a string, an object or an array, not {json_type(value)}"
            )
        if problems := operator_problems(value):
            raise ValidationError(problems)
        return value


class LegacyBody(fields.Raw):
    """The hosted extension's ``data``: a string means content, an object request_data."""


class HttpMethod(fields.String):
    """An HTTP method name, upper-cased."""

    def _deserialize(self, value, attr, data, **kwargs):
        method = super()._deserialize(value, attr, data, **kwargs).upper()
        if not re.fullmatch(r"[A-Z]+", method):
            raise ValidationError(f"{value!r} is not an HTTP method")
        return method


def json_type(value) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


# marshmallow's default texts, said the way an admin reading the Rossum UI expects.
FRIENDLIER_MESSAGES = {
    "Missing data for required field.": "is required",
    "Unknown field.": "unknown key",
    "Not a valid string.": "must be a string",
    "Not a valid integer.": "must be an integer",
    "Not a valid boolean.": "must be true or false",
    "Not a valid mapping type.": "must be an object",
    "Not a valid list.": "must be a list",
    "Field may not be null.": "must not be null",
    "Invalid input type.": "must be an object",
}


def problems_from(messages, schema: Schema, path: str = "") -> list[Problem]:
    """Flatten marshmallow's nested error messages into (JSON path, message) problems."""
    if isinstance(messages, list):
        return [
            Problem(path, friendly_message(message, schema, path))
            for message in messages
            if isinstance(message, str)
        ]
    problems = []
    for key, nested in messages.items():
        if key == "_schema":
            child_path = path
        elif isinstance(key, int):
            child_path = f"{path}[{key}]"
        else:
            child_path = f"{path}.{key}" if path else str(key)
        problems.extend(problems_from(nested, schema, child_path))
    return problems


def friendly_message(message: str, schema: Schema, path: str) -> str:
    """Reword a marshmallow message; for an unknown key, suggest the nearest known one."""
    friendly = FRIENDLIER_MESSAGES.get(message, message)
    if message == "Unknown field.":
        parent, _, key = path.rpartition(".")
        known = known_keys(schema, parent)
        close = difflib.get_close_matches(key, known, n=1)
        if close:
            friendly += f" (did you mean {close[0]!r}?)"
    return friendly


def known_keys(schema: Schema, path: str) -> list[str]:
    """The keys the schema accepts at ``path`` (e.g. ``export_configs[0].request``)."""
    for name in filter(None, re.sub(r"\[\d+\]", "", path).split(".")):
        field_ = schema.fields.get(name)
        if isinstance(field_, fields.List):
            field_ = field_.inner
        if not isinstance(field_, fields.Nested):
            return []
        schema = field_.schema
    return list(schema.fields)
