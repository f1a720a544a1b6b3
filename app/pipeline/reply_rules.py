"""``reply_rules``: messages and failure decided from the reply's content (SPEC §8).

The "export evaluator" in the same hook: each rule's JMESPath ``when`` is evaluated on
the reply document ``extract`` reads; a true one (JMESPath truthiness) adds its
message. The first ``error`` rule that holds fails the export, even on a ``2xx``, and
ends the evaluation: what follows it would describe an export that did not happen.
"""

import json

import jmespath

from .. import messages
from ..messages import Message
from ..redaction import Redactor
from ..reply_settings import ReplyRule

DETAILS_LIMIT = 1000  # as reply bodies are quoted


def truthy(value) -> bool:
    """JMESPath truthiness: false for null, false, and empty strings, arrays and objects."""
    return value not in (None, False, "", [], {})


def rule_messages(
    rules: tuple[ReplyRule, ...], document: dict, redactor: Redactor
) -> list[Message]:
    """The messages of the rules that hold, in order, up to and with the first error."""
    found = []
    for rule in rules:
        if not truthy(jmespath.search(rule.when, document)):
            continue
        found.append(Message(rule.type, describe(rule, document, redactor)))
        if rule.type == "error":
            break
    return found


def describe(rule: ReplyRule, document: dict, redactor: Redactor) -> str:
    """``<message>: <details as text>``, details trimmed; the message alone without them."""
    details = jmespath.search(rule.details, document) if rule.details else None
    if details is None:
        return rule.message
    text = details if isinstance(details, str) else json.dumps(details, ensure_ascii=False)
    text = redactor.text(text.strip())
    if len(text) > DETAILS_LIMIT:
        text = text[:DETAILS_LIMIT] + "…"
    return f"{rule.message}: {text}"


def failed_by_rules(status: Message, found: list[Message]) -> list[Message]:
    """The outcome's messages: an error rule's message first, so the export counts as refused.

    Duplicate protection remembers an export as delivered unless its first message is
    an error; an export the reply rules failed must be sent again by the next delivery.
    """
    if status.type == "error" or not any(m.type == "error" for m in found):
        return [status, *found]
    errors = [m for m in found if m.type == "error"]
    others = [m for m in found if m.type != "error"]
    if status.type == "info":  # "Exported: ..." no longer holds
        refused = status.content.replace("Exported: ", "Sent, but refused by the reply rules: ", 1)
        status = messages.info(refused)
    return [*errors, *others, status]
