"""The annotation's content tree (SPEC §3): sections → datapoints, multivalues → tuples."""

import copy
from collections.abc import Iterator, Mapping
from functools import cached_property


class AnnotationContent:
    """Read access to the datapoints of one annotation's content tree.

    The tree is indexed by ``schema_id`` once, on first look-up, so rendering costs
    grow linearly with the annotation, not with its size times its placeholders.
    """

    def __init__(self, tree: list):
        self.tree = tree
        self._own_tree = False  # the payload's tree is never changed: written to a copy

    def set_values(self, values: Mapping[int, str]) -> None:
        """Give datapoints (by id) new shown values, as Rossum will once it applies them.

        The normalized value is dropped with the old one: typed templating then reads
        the new shown value.
        """
        if not self._own_tree:
            self.tree, self._own_tree = copy.deepcopy(self.tree), True
            self.__dict__.pop("by_schema_id", None)  # the index held the payload's nodes
        for node in self.nodes():
            if node.get("category") == "datapoint" and node.get("id") in values:
                content = node.get("content") if isinstance(node.get("content"), dict) else {}
                content = {k: v for k, v in content.items() if k != "normalized_value"}
                node["content"] = {**content, "value": values[node["id"]]}

    def nodes(self) -> Iterator[dict]:
        """Every node of the tree, depth first, in document order."""
        stack = list(reversed(self.tree))
        while stack:
            node = stack.pop()
            if not isinstance(node, dict):
                continue
            yield node
            children = node.get("children")
            if isinstance(children, list):
                stack.extend(reversed(children))

    @cached_property
    def by_schema_id(self) -> dict[str, list[dict]]:
        """Nodes by ``schema_id``, each list in document order."""
        index: dict[str, list[dict]] = {}
        for node in self.nodes():
            schema_id = node.get("schema_id")
            if isinstance(schema_id, str):
                index.setdefault(schema_id, []).append(node)
        return index

    def with_schema_id(self, schema_id: str) -> list[dict]:
        """All nodes (datapoints, multivalues, tuples, sections) with ``schema_id``."""
        return self.by_schema_id.get(schema_id, [])

    def datapoints(self, schema_id: str) -> list[dict]:
        """All datapoints with ``schema_id``, in document order."""
        return [n for n in self.with_schema_id(schema_id) if n.get("category") == "datapoint"]

    def value(self, schema_id: str) -> str | None:
        """The shown value of the first datapoint with ``schema_id``; ``None`` when absent.

        A datapoint without content (a button) or with a null value gives ``""``.
        """
        nodes = self.with_schema_id(schema_id)
        datapoint = next((n for n in nodes if n.get("category") == "datapoint"), None)
        return None if datapoint is None else shown_value(datapoint)


def shown_value(datapoint: dict) -> str:
    """A datapoint's value as placeholders render it (``""`` for none or null)."""
    content = datapoint.get("content") or {}
    value = content.get("value") if isinstance(content, dict) else None
    return "" if value is None else str(value)
