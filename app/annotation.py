"""The annotation's content tree (SPEC §3): sections → datapoints, multivalues → tuples."""

import copy
from collections.abc import Iterator, Mapping


class AnnotationContent:
    """Read access to the datapoints of one annotation's content tree."""

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

    def datapoints(self, schema_id: str) -> list[dict]:
        """All datapoints with ``schema_id``, in document order."""
        return [
            node
            for node in self.nodes()
            if node.get("category") == "datapoint" and node.get("schema_id") == schema_id
        ]

    def value(self, schema_id: str) -> str | None:
        """The shown value of the first datapoint with ``schema_id``; ``None`` when absent.

        A datapoint without content (a button) or with a null value gives ``""``.
        """
        for node in self.nodes():
            if node.get("category") == "datapoint" and node.get("schema_id") == schema_id:
                content = node.get("content") or {}
                value = content.get("value") if isinstance(content, dict) else None
                return "" if value is None else str(value)
        return None
