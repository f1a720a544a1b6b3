"""JSON templating operators (SPEC §5), as Rossum's other extensions know them.

A template is any JSON value. A string takes the placeholders of :mod:`app.templating`;
an object whose only key is an operator name is replaced by what the operator gives;
anything else is rendered member by member. An operator may leave its parent key out
(:data:`OMIT`). Pure: it renders what it is given.
"""

import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .annotation import AnnotationContent, first_datapoint, shown_value
from .errors import TemplateError
from .garbage_collection import collection_paused
from .templating import TemplateValues, TextTemplate, missing_datapoint, render_text

OMIT = object()  # "leave the parent key out"
VALUE_TYPES = ("string", "integer", "float", "boolean", "iso_datetime")
OPERATORS = {
    # name: (required arguments, optional arguments)
    "$DATAPOINT_VALUE$": ({"schema_id"}, {"value_type"}),
    "$DATAPOINT_MAPPING$": ({"schema_id", "mapping"}, {"fallback_mapping"}),
    "$FOR_EACH_SCHEMA_ID$": ({"schema_id", "mapping"}, {"fallback_mapping"}),
    "$IF_SCHEMA_ID$": ({"schema_id", "mapping"}, {"fallback_mapping"}),
    "$IF_DATAPOINT_VALUE$": ({"schema_id", "value", "mapping"}, set()),
}
TRUE_WORDS = {"true", "yes", "1", "y"}
FALSE_WORDS = {"false", "no", "0", "n"}


class Scope:
    """Where datapoints are looked up: the annotation, or one element of a loop in it."""

    __slots__ = ("content", "parent", "loop")

    def __init__(
        self, content: AnnotationContent, parent: "Scope | None" = None, loop: dict | None = None
    ):
        self.content = content
        self.parent = parent
        self.loop = loop or {}

    def nodes(self, schema_id: str) -> list[dict]:
        """Nodes with ``schema_id`` in this scope, else in the enclosing one."""
        scope, found = self, self.content.with_schema_id(schema_id)
        while not found and scope.parent is not None:
            scope = scope.parent
            found = scope.content.with_schema_id(schema_id)
        return found

    def datapoint(self, schema_id: str) -> dict | None:
        return first_datapoint(self.nodes(schema_id))

    def value(self, schema_id: str) -> str | None:
        """What ``@{schema_id}`` renders to here; loop variables first."""
        scope = self
        while True:
            if schema_id in scope.loop:
                return str(scope.loop[schema_id])
            node = first_datapoint(scope.nodes(schema_id))
            if node is not None:
                return shown_value(node)
            if scope.parent is None:
                return None
            scope = scope.parent


# A template compiled once: a function of the values (whose ``datapoint`` look-up the
# scope's replaces) and the scope, called once per element of a loop.
Renderer = Callable[[TemplateValues, Scope], Any]


def is_operator(template) -> bool:
    return isinstance(template, dict) and len(template) == 1 and next(iter(template)) in OPERATORS


def render_json(template, values: TemplateValues, scope: Scope, where: str):
    """The JSON value a template gives; :data:`OMIT` when an operator leaves it out."""
    with collection_paused():
        return compile_json(template, where)(values, scope)


def in_scope(values: TemplateValues, scope: Scope) -> TemplateValues:
    """``values`` whose datapoints are looked up in ``scope``."""
    if values.datapoint == scope.value:
        return values
    return TemplateValues(scope.value, values.secrets, values.variables, values.files)


def compile_json(template, where: str) -> Renderer:
    """The renderer of a template; ``where`` is its path, for error messages.

    Compiled once per rendering, so that a loop does not parse its strings, format
    their paths or dispatch on their types again for every element.
    """
    if isinstance(template, str):
        return compile_text(template, where)
    if is_operator(template):
        [(name, arguments)] = template.items()
        return OPERATOR_COMPILERS[name](arguments, where)
    if isinstance(template, dict):
        members = [(key, compile_json(item, f"{where}.{key}")) for key, item in template.items()]

        def render_object(values, scope):
            rendered = {}
            for key, render in members:
                item = render(values, scope)
                if item is not OMIT:
                    rendered[key] = item
            return rendered

        return render_object
    if isinstance(template, list):
        items = [compile_json(item, f"{where}[{i}]") for i, item in enumerate(template)]

        def render_array(values, scope):
            rendered = [render(values, scope) for render in items]
            return [item for item in rendered if item is not OMIT]

        return render_array
    return lambda values, scope: template


def compile_text(template: str, where: str) -> Renderer:
    """The renderer of a string: its placeholders, datapoints looked up in the scope."""
    text = TextTemplate(template)
    schema_id = text.only["datapoint"] if text.only is not None else None
    if schema_id is None:
        return lambda values, scope: render_text(text, in_scope(values, scope), where)

    def render_datapoint(values, scope):  # the commonest template: "@{schema_id}"
        value = scope.value(schema_id)
        if value is None:
            raise missing_datapoint(schema_id, where)
        return value

    return render_datapoint


def render_text_value(template, values: TemplateValues, scope: Scope, where: str):
    """A header or form value: a string, an operator's result JSON-encoded, or OMIT."""
    rendered = render_json(template, values, scope, where)
    if rendered is OMIT or isinstance(rendered, str):
        return rendered
    return json.dumps(rendered, ensure_ascii=False, separators=(",", ":"))


def required_datapoint(scope: Scope, schema_id: str, where: str) -> dict:
    node = scope.datapoint(schema_id)
    if node is None and schema_id not in scope_loop_names(scope):
        raise TemplateError(f"{where}: datapoint {schema_id!r} is not in the annotation")
    return node


def scope_loop_names(scope: Scope) -> set:
    names = set()
    while scope is not None:
        names |= set(scope.loop)
        scope = scope.parent
    return names


def datapoint_value(arguments, where) -> Renderer:
    schema_id, value_type = arguments["schema_id"], arguments.get("value_type", "string")

    def render(values, scope):
        node = required_datapoint(scope, schema_id, where)
        in_loop = schema_id in scope.loop
        shown = shown_value(node) if node is not None and not in_loop else scope.value(schema_id)
        if value_type == "string":
            return shown
        content = (node or {}).get("content") or {}
        normalized = content.get("normalized_value") if isinstance(content, dict) else None
        raw = normalized if normalized not in (None, "") else shown
        if raw in (None, ""):
            return None
        try:
            return CONVERSIONS[value_type](str(raw))
        except (ValueError, InvalidOperation, ArithmeticError):
            raise TemplateError(
                f"{where}: datapoint {schema_id!r} value {shown!r} cannot be converted to "
                f"{value_type}"
            ) from None

    return render


def to_decimal(text: str) -> Decimal:
    text = "".join(text.split()).replace("\u00a0", "")
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    return Decimal(text)


def to_integer(text: str) -> int:
    number = to_decimal(text)
    if number != number.to_integral_value():
        raise ValueError(text)
    return int(number)


def to_boolean(text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS | FALSE_WORDS:
        return word in TRUE_WORDS
    raise ValueError(text)


def to_iso_datetime(text: str) -> str:
    text = text.strip()
    if text[-1:] in ("Z", "z"):  # the UTC designator, which fromisoformat takes only from 3.11
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text).isoformat()


CONVERSIONS = {
    "integer": to_integer,
    "float": lambda text: float(to_decimal(text)),
    "boolean": to_boolean,
    "iso_datetime": to_iso_datetime,
}


def datapoint_mapping(arguments, where) -> Renderer:
    schema_id = arguments["schema_id"]
    mapping = {
        value: compile_json(template, f"{where}.mapping.{value}")
        for value, template in arguments["mapping"].items()
    }
    fallback = compile_fallback(arguments, None, where)

    def render(values, scope):
        required_datapoint(scope, schema_id, where)
        value = scope.value(schema_id)
        if value in mapping:
            return mapping[value](values, scope)
        return fallback(values, scope)

    return render


def for_each(arguments, where) -> Renderer:
    schema_id = arguments["schema_id"]
    mapping = compile_json(arguments["mapping"], f"{where}.mapping")
    fallback = compile_fallback(arguments, None, where) if "fallback_mapping" in arguments else None

    def render(values, scope):
        elements = scope.nodes(schema_id)
        if not elements:
            return fallback(values, scope) if fallback else []  # a new list each time
        rendered = []
        for index, element in enumerate(elements):
            loop = {"schema_loop.index": index + 1, "schema_loop.index0": index}
            inner = Scope(AnnotationContent([element]), parent=scope, loop=loop)
            item = mapping(values, inner)
            if item is not OMIT:
                rendered.append(item)
        return rendered

    return render


def if_schema_id(arguments, where) -> Renderer:
    schema_id = arguments["schema_id"]
    mapping = compile_json(arguments["mapping"], f"{where}.mapping")
    fallback = compile_fallback(arguments, OMIT, where)

    def render(values, scope):
        nodes = scope.nodes(schema_id)
        is_datapoint = bool(nodes) and nodes[0].get("category") == "datapoint"
        present = (
            scope.value(schema_id) if is_datapoint else bool(nodes and nodes[0].get("children"))
        )
        return mapping(values, scope) if present else fallback(values, scope)

    return render


def if_datapoint_value(arguments, where) -> Renderer:
    schema_id = arguments["schema_id"]
    mapping = compile_json(arguments["mapping"], f"{where}.mapping")

    def render(values, scope):
        datapoints = [n for n in scope.nodes(schema_id) if n.get("category") == "datapoint"]
        if len(datapoints) != 1:
            problem = "is not in the annotation" if not datapoints else "is there more than once"
            raise TemplateError(f"{where}: datapoint {schema_id!r} {problem}")
        if scope.value(schema_id) == arguments["value"]:
            return mapping(values, scope)
        return OMIT

    return render


def compile_fallback(arguments, default, where) -> Renderer:
    """The renderer of ``fallback_mapping``; without one, ``default``."""
    if "fallback_mapping" not in arguments:
        return lambda values, scope: default
    return compile_json(arguments["fallback_mapping"], f"{where}.fallback_mapping")


OPERATOR_COMPILERS = {
    "$DATAPOINT_VALUE$": datapoint_value,
    "$DATAPOINT_MAPPING$": datapoint_mapping,
    "$FOR_EACH_SCHEMA_ID$": for_each,
    "$IF_SCHEMA_ID$": if_schema_id,
    "$IF_DATAPOINT_VALUE$": if_datapoint_value,
}


def template_strings(template) -> list[str]:
    """Every string in a template (to find the files its placeholders need)."""
    if isinstance(template, str):
        return [template]
    if isinstance(template, dict):
        return [s for item in template.values() for s in template_strings(item)]
    if isinstance(template, list):
        return [s for item in template for s in template_strings(item)]
    return []


def operator_problems(template, path: str = "") -> dict:
    """Mistakes in operator objects, as marshmallow-style nested errors keyed by path."""
    errors: dict = {}
    if is_operator(template):
        [(name, arguments)] = template.items()
        required, optional = OPERATORS[name]
        if not isinstance(arguments, dict):
            return {name: ["must be an object"]}
        problems = {}
        for key in required - set(arguments):
            problems[key] = ["is required"]
        for key in set(arguments) - required - optional:
            problems[key] = ["unknown key"]
        if "schema_id" in arguments and not isinstance(arguments["schema_id"], str):
            problems["schema_id"] = ["must be a string"]
        if arguments.get("value_type", "string") not in VALUE_TYPES:
            problems["value_type"] = [f"must be one of {', '.join(VALUE_TYPES)}"]
        if name == "$DATAPOINT_MAPPING$" and not isinstance(arguments.get("mapping", {}), dict):
            problems["mapping"] = ["must be an object of value: template"]
        for key in ("mapping", "fallback_mapping"):
            nested = operator_problems(arguments.get(key))
            if nested and key not in problems:
                problems[key] = nested
        return {name: problems} if problems else {}
    if isinstance(template, dict):
        for key, item in template.items():
            nested = operator_problems(item)
            if nested:
                errors[key] = nested
    elif isinstance(template, list):
        for index, item in enumerate(template):
            nested = operator_problems(item)
            if nested:
                errors[index] = nested
    return errors
