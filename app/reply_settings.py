"""The settings that read the target's reply (SPEC §8): ``extract`` and ``reply_rules`` rules.

Their JMESPath expressions, ElementTree paths and regular expressions are checked
here, so a mistake is a settings error with its path before anything is sent.
"""

import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element

import jmespath
from marshmallow import ValidationError, fields, post_load, validates_schema

from .validation import StrictSchema, described, one_of

# "./Invoice/@id": the attribute of the element the path finds (ElementTree paths
# select elements only).
ATTRIBUTE_STEP = re.compile(r"(?P<path>.*?)/?@(?P<attribute>[^/@\[\]]+)")
SELECTORS = ("value_path", "xml_path", "regex")


@dataclass(frozen=True)
class ExtractRule:
    target_schema_id: str
    value_path: str | None = None
    xml_path: str | None = None
    regex: str | None = None

    @property
    def selector(self) -> tuple[str, str]:
        """(selector name, expression) of the one selector the rule has."""
        return next(
            (name, getattr(self, name)) for name in SELECTORS if getattr(self, name) is not None
        )


@dataclass(frozen=True)
class ReplyRule:
    when: str
    type: str
    message: str
    details: str | None = None


def jmespath_expression(expression: str) -> None:
    try:
        jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as error:
        raise ValidationError(
            f"is not a valid JMESPath expression ({error.__class__.__name__})"
        ) from None


def split_xml_path(expression: str) -> tuple[str, str | None]:
    """An ``xml_path`` as (ElementTree path, attribute name or None)."""
    step = ATTRIBUTE_STEP.fullmatch(expression)
    return (step["path"] or ".", step["attribute"]) if step else (expression, None)


def xml_path_expression(expression: str) -> None:
    path, _ = split_xml_path(expression)
    if not path.strip():
        raise ValidationError("must not be empty")
    try:
        Element("document").find(path)
    except SyntaxError as error:
        raise ValidationError(f"is not a valid ElementTree path ({error})") from None
    except (KeyError, TypeError, ValueError):
        raise ValidationError("is not a valid ElementTree path") from None


def regular_expression(expression: str) -> None:
    try:
        re.compile(expression)
    except re.error as error:
        raise ValidationError(f"is not a valid regular expression ({error})") from None


class ExtractRuleSchema(StrictSchema):
    value_path = fields.String(
        **described(
            "JMESPath into {status_code, headers, body} of the reply",
            validate=jmespath_expression,
        )
    )
    xml_path = fields.String(
        **described(
            "ElementTree path into the XML reply body, from the document "
            "('./Invoice/DocumentId', './Invoice/@id' for an attribute)",
            validate=xml_path_expression,
        )
    )
    regex = fields.String(
        **described(
            "Python regular expression searched in the reply body text; its first group, "
            "else the whole match",
            validate=regular_expression,
        )
    )
    target_schema_id = fields.String(**described("datapoint to write the value to", required=True))

    @validates_schema(skip_on_field_errors=True)
    def check_one_selector(self, data, **kwargs):
        given = [name for name in SELECTORS if name in data]
        if len(given) != 1:
            found = f", not {' and '.join(given)}" if given else ""
            raise ValidationError(f"needs exactly one of value_path, xml_path, regex{found}")

    @post_load
    def make_rule(self, data, **kwargs):
        return ExtractRule(**data)


class ReplyRuleSchema(StrictSchema):
    when = fields.String(
        **described(
            "JMESPath into {status_code, headers, body} of the reply; the rule holds when "
            "its result is not null, false or empty",
            required=True,
            validate=jmespath_expression,
        )
    )
    type = fields.String(
        **described(
            "the message's type; error fails the export, even on a 2xx",
            required=True,
            validate=one_of(["error", "warning", "info"]),
        )
    )
    message = fields.String(**described("the message's text", required=True))
    details = fields.String(
        **described(
            "JMESPath whose result is added to the message as text",
            validate=jmespath_expression,
        )
    )

    @post_load
    def make_rule(self, data, **kwargs):
        return ReplyRule(**data)
