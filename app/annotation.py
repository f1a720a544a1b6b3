"""The annotation's content tree (SPEC §3): sections → datapoints, multivalues → tuples."""

from collections.abc import Iterator


class AnnotationContent:
    """Read access to the datapoints of one annotation's content tree."""

    def __init__(self, tree: list):
        self.tree = tree

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
