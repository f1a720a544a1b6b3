"""``extract``: values from the reply written into datapoints as hook operations (SPEC §8)."""

import json

import jmespath

from .. import messages
from ..annotation import AnnotationContent
from ..errors import TemplateError
from ..messages import Message
from ..redaction import Redactor
from ..settings import ExtractRule


def check_extract_targets(rules: tuple[ExtractRule, ...], content: AnnotationContent) -> None:
    """Every target datapoint exists; checked before sending, not after the target has it."""
    for index, rule in enumerate(rules):
        if not content.datapoints(rule.target_schema_id):
            raise TemplateError(
                f"extract[{index}].target_schema_id: datapoint {rule.target_schema_id!r} "
                "is not in the annotation"
            )


def extract_operations(
    rules: tuple[ExtractRule, ...], reply: dict, content: AnnotationContent, redactor: Redactor
) -> tuple[list[dict], list[Message]]:
    """``replace`` operations for each rule's result, and a warning for each that found nothing."""
    operations, notes = [], []
    for index, rule in enumerate(rules):
        found = jmespath.search(rule.value_path, reply)
        if found is None:
            notes.append(
                messages.warning(
                    f"extract[{index}]: {rule.value_path!r} found nothing in the reply; "
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
