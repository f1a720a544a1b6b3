"""The annotation's content tree (SPEC §3): sections → datapoints, multivalues → tuples."""

import copy
from collections.abc import Iterator, Mapping


class AnnotationContent:
    """Read access to the datapoints of one annotation's content tree.

    The tree is indexed by ``schema_id`` once, on first look-up, so rendering costs
    grow linearly with the annotation, not with its size times its placeholders.
    """

    def __init__(self, tree: list):
        self.tree = tree
        self._own_tree = False  # the payload's tree is never changed: written to a copy
        self._index: dict[str, list[dict]] | None = None

    def set_values(self, values: Mapping[int, str]) -> None:
        """Give datapoints (by id) new shown values, as Rossum will once it applies them.

        The normalized value is dropped with the old one: typed templating then reads
        the new shown value.
        """
        if not self._own_tree:
            self.tree, self._own_tree = copy.deepcopy(self.tree), True
            self._index = None  # it held the payload's nodes
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

    @property
    def by_schema_id(self) -> dict[str, list[dict]]:
        """Nodes by ``schema_id``, each list in document order."""
        if self._index is None:
            self._index = index_by_schema_id(self.tree)
        return self._index

    def with_schema_id(self, schema_id: str) -> list[dict]:
        """All nodes (datapoints, multivalues, tuples, sections) with ``schema_id``."""
        index = self._index if self._index is not None else self.by_schema_id
        return index.get(schema_id, [])

    def datapoints(self, schema_id: str) -> list[dict]:
        """All datapoints with ``schema_id``, in document order."""
        return [n for n in self.with_schema_id(schema_id) if n.get("category") == "datapoint"]

    def value(self, schema_id: str) -> str | None:
        """The shown value of the first datapoint with ``schema_id``; ``None`` when absent.

        A datapoint without content (a button) or with a null value gives ``""``.
        """
        datapoint = first_datapoint(self.with_schema_id(schema_id))
        return None if datapoint is None else shown_value(datapoint)


def index_by_schema_id(tree: list) -> dict[str, list[dict]]:
    """The nodes of a tree by ``schema_id``, in document order (the walk of ``nodes``).

    Written out rather than over ``nodes()``: a loop indexes every one of its rows.
    """
    index: dict[str, list[dict]] = {}
    stack = tree[::-1]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        schema_id = node.get("schema_id")
        if isinstance(schema_id, str):
            if schema_id in index:
                index[schema_id].append(node)
            else:
                index[schema_id] = [node]
        children = node.get("children")
        if isinstance(children, list):
            stack += children[::-1]
    return index


def first_datapoint(nodes: list[dict]) -> dict | None:
    """The first of ``nodes`` that is a datapoint."""
    for node in nodes:
        if node.get("category") == "datapoint":
            return node
    return None


def shown_value(datapoint: dict) -> str:
    """A datapoint's value as placeholders render it (``""`` for none or null)."""
    content = datapoint.get("content") or {}
    value = content.get("value") if isinstance(content, dict) else None
    return "" if value is None else str(value)
