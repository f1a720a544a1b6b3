"""``iterate_over`` (SPEC §5): an export object's request sent once per row of a multivalue.

A step of the Exporter's template method, so every exporter can iterate: the row
loop sets :attr:`Exporter.row` and runs the exporter's own delivery step for each
row. A row is the scope of ``@{...}`` and the templating operators (its own
datapoints first, ``@{schema_loop.index}``/``index0`` counting the rows), is an
export of its own for duplicate protection (its index and values are in the key),
and is where ``extract`` writes. The first row that fails stops the rest.
"""

import json
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from .. import messages
from ..annotation import AnnotationContent
from ..errors import ExportError
from ..json_templating import Scope
from ..messages import HookAnswer, Message

if TYPE_CHECKING:
    from .base import Exporter


class RowContent(AnnotationContent):
    """One row's datapoints; a schema_id the row does not hold is the annotation's."""

    def __init__(self, row: dict, annotation: AnnotationContent):
        super().__init__([row])
        self.annotation = annotation

    def datapoints(self, schema_id: str) -> list[dict]:
        return super().datapoints(schema_id) or self.annotation.datapoints(schema_id)


@dataclass
class Row:
    """One row of the multivalue being iterated over."""

    index0: int
    node: dict  # the tuple (or a simple multivalue's datapoint)
    annotation: AnnotationContent

    @property
    def index(self) -> int:
        return self.index0 + 1

    @cached_property
    def content(self) -> RowContent:
        return RowContent(self.node, self.annotation)

    @cached_property
    def scope(self) -> Scope:
        loop = {"schema_loop.index": self.index, "schema_loop.index0": self.index0}
        return Scope(AnnotationContent([self.node]), parent=Scope(self.annotation), loop=loop)

    def identity(self, ignored: frozenset[str] = frozenset()) -> tuple:
        """What makes this row an export of its own: its place and its values, but for
        the ``ignored`` datapoints (those its own ``extract`` writes: once Rossum holds the
        extracted value, a re-delivery of the row is still the same export)."""
        values = [
            [node.get("schema_id"), (node.get("content") or {}).get("value")]
            for node in AnnotationContent([self.node]).nodes()
            if node.get("category") == "datapoint"
            and isinstance(node.get("content"), dict)
            and node.get("schema_id") not in ignored
        ]
        return (f"row {self.index0}", json.dumps(values, ensure_ascii=False))


def written_by_extract(settings) -> frozenset[str]:
    """The datapoints an export object's ``extract`` rules write."""
    return frozenset(rule.target_schema_id for rule in settings.extract)


def rows_of(content: AnnotationContent, schema_id: str) -> list[Row]:
    """The rows named by ``schema_id``: a multivalue's children, or the tuples themselves."""
    nodes = [node for node in content.nodes() if node.get("schema_id") == schema_id]
    if len(nodes) == 1 and nodes[0].get("category") == "multivalue":
        nodes = [child for child in nodes[0].get("children") or [] if isinstance(child, dict)]
    return [Row(index0, node, content) for index0, node in enumerate(nodes)]


def iterate_rows(exporter: "Exporter") -> HookAnswer:
    """Deliver the request once per row, in order; one message per row and a summary."""
    name = exporter.settings.iterate_over
    rows = rows_of(exporter.context.content, name)
    if not rows:
        return HookAnswer([messages.info(f"No rows of {name}: nothing sent.")], outcome="skipped")
    answer, exported = HookAnswer(), 0
    for row in rows:
        outcome = deliver_row(exporter, row)
        answer.messages.extend(
            Message(m.type, f"row {row.index} of {name}: {m.content}") for m in outcome.messages
        )
        answer.operations.extend(outcome.operations)
        if outcome.failed:
            break
        exported += 1
    summary = f"{exported} of {len(rows)} rows of {name} exported"
    if exported < len(rows):
        unsent = len(rows) - exported - 1
        summary += f"; row {exported + 1} failed" + (f", {unsent} not sent" if unsent else "")
    answer.messages.append(messages.info(summary + "."))
    exporter.summary["rows"] = f"{exported}/{len(rows)}"
    return answer


def deliver_row(exporter: "Exporter", row: Row) -> HookAnswer:
    """One row's delivery; its failure is that row's error message."""
    exporter.row = row
    try:
        return exporter.deliver()
    except ExportError as error:
        exporter.summary["failed_step"] = error.step
        return HookAnswer([messages.error(error.describe())])
    finally:
        exporter.row = None
