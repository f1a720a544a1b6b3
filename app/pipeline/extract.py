"""``extract``: values from the reply written into datapoints as hook operations (SPEC §8).

A rule takes its value with one selector: ``value_path`` (JMESPath over the reply
document), ``xml_path`` (an ElementTree path on the XML body, parsed by defusedxml
without DTDs or entities, so a billion-laughs reply expands nothing and fetches
nothing) or ``regex`` (the first group, else the whole match, in the body text).
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeElementTree
import jmespath
from defusedxml import DefusedXmlException

from .. import messages
from ..annotation import AnnotationContent
from ..errors import TemplateError
from ..messages import HookAnswer, Message
from ..redaction import Redactor
from ..reply_settings import ExtractRule, split_xml_path
from ..state import DELIVERED, ExportRecord
from .dedup import DuplicateGuard


@dataclass
class ReplyContent:
    """The reply as the selectors read it."""

    document: dict  # {"status_code", "headers", "body"} for JMESPath
    text: str | None  # the body as text; None when it is binary
    body: bytes

    @cached_property
    def xml(self) -> "Element | Unreadable":
        """The body parsed as XML once for every xml_path rule, or why it cannot be."""
        try:
            return parse_xml(self.body)
        except Unreadable as problem:
            return problem


class Unreadable(Exception):
    """The reply cannot be read the way the rule asks (not XML, binary, a DTD)."""


def check_extract_targets(rules: tuple[ExtractRule, ...], content: AnnotationContent) -> None:
    """Every target datapoint exists; checked before sending, not after the target has it."""
    for index, rule in enumerate(rules):
        if not content.datapoints(rule.target_schema_id):
            raise TemplateError(
                f"extract[{index}].target_schema_id: datapoint {rule.target_schema_id!r} "
                "is not in the annotation"
            )


def extract_operations(
    rules: tuple[ExtractRule, ...],
    reply: ReplyContent,
    content: AnnotationContent,
    redactor: Redactor,
) -> tuple[list[dict], list[Message]]:
    """``replace`` operations for each rule's result, and a warning for each that found nothing."""
    operations, notes = [], []
    for index, rule in enumerate(rules):
        selector, expression = rule.selector
        try:
            found = SELECTORS[selector](expression, reply)
        except Unreadable as problem:
            notes.append(
                messages.warning(
                    f"extract[{index}]: {selector} {expression!r}: {problem}; "
                    f"datapoint {rule.target_schema_id!r} left unchanged"
                )
            )
            continue
        if found is None:
            notes.append(
                messages.warning(
                    f"extract[{index}]: {expression!r} found nothing in the reply; "
                    f"datapoint {rule.target_schema_id!r} left unchanged"
                )
            )
            continue
        found = redactor.tree(found)
        text = found if isinstance(found, str) else json.dumps(found, separators=(",", ":"))
        operations.extend(
            {"op": "replace", "id": datapoint["id"], "value": {"content": {"value": text}}}
            for datapoint in content.datapoints(rule.target_schema_id)
        )
    return operations, notes


def by_value_path(expression: str, reply: ReplyContent):
    return jmespath.search(expression, reply.document)


def parse_xml(body: bytes) -> Element:
    """The reply's XML under a document node, so a path may start with the root's name."""
    try:
        root = SafeElementTree.fromstring(body, forbid_dtd=True)
    except DefusedXmlException:
        raise Unreadable(
            "the XML reply declares a DTD or entities, which are refused (never expanded "
            "or fetched)"
        ) from None
    except ParseError as error:
        raise Unreadable(f"the reply is not well-formed XML ({error})") from None
    document = Element("document")
    document.append(root)
    return document


def by_xml_path(expression: str, reply: ReplyContent) -> str | None:
    path, attribute = split_xml_path(expression)
    if isinstance(reply.xml, Unreadable):
        raise reply.xml
    element = reply.xml.find(path)
    if element is None:
        return None
    if attribute is not None:
        return element.get(attribute)
    return "".join(element.itertext()).strip()


def by_regex(expression: str, reply: ReplyContent) -> str | None:
    if reply.text is None:
        raise Unreadable("the reply body is not text")
    match = re.search(expression, reply.text)
    if match is None:
        return None
    return match.group(1) if match.re.groups else match.group(0)


SELECTORS: dict[str, Callable[[str, ReplyContent], object]] = {
    "value_path": by_value_path,
    "xml_path": by_xml_path,
    "regex": by_regex,
}


def with_extracted_values(
    rules: tuple[ExtractRule, ...],
    content: AnnotationContent,
    repeat: HookAnswer,
    remembered: ExportRecord | None,
) -> HookAnswer:
    """A repeat answered from a receipt, with the values its extract rules wrote.

    A receipt holds no values. The state store's answer has them while it remembers
    the export; the annotation has them once Rossum applied the first answer. Without
    either, the export objects after this one would be rendered without them (a chain
    would attach to the wrong invoice), so the repeat fails and nothing more is sent.
    """
    if not rules:
        return repeat
    if remembered is not None and remembered.state == DELIVERED:
        return DuplicateGuard.repeat_answer(remembered)
    unknown = [
        rule.target_schema_id
        for rule in rules
        if not any(
            (datapoint.get("content") or {}).get("value")
            for datapoint in content.datapoints(rule.target_schema_id)
        )
    ]
    if not unknown:
        return repeat
    names = ", ".join(repr(name) for name in dict.fromkeys(unknown))
    return HookAnswer(
        [
            messages.error(
                f"{repeat.messages[0].content.removesuffix('.')}, but the values its extract "
                f"rules wrote are not known to this delivery (datapoint {names} is empty), "
                "so the exports after it are not sent. Fill in the value from the target, "
                "then export again."
            )
        ]
    )
