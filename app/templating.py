"""Placeholders (SPEC §5): ``@{schema_id}``, ``{secret.name}``, ``#{name}``.

Pure: it renders what it is given. Which files a template needs is asked with
:func:`file_placeholders`; loading them is the caller's job.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .errors import TemplateError

FILE_NAMES = frozenset({"file_content", "original_file"})

PLACEHOLDER = re.compile(
    r"@\{(?P<datapoint>[^{}\s]+)\}"
    r"|\{secret\.(?P<secret>[^{}\s]+)\}"
    r"|#\{(?P<name>[^{}\s]+)\}"
)


@dataclass(frozen=True)
class TemplateValues:
    """What placeholders render to.

    ``datapoint`` returns a datapoint's value, or ``None`` when no such datapoint
    exists; ``files`` holds the bytes of the files the template needs.
    """

    datapoint: Callable[[str], str | None]
    secrets: Mapping[str, str] = field(default_factory=dict)
    variables: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, bytes] = field(default_factory=dict)


def file_placeholders(template: str | None) -> set[str]:
    """Names of the file placeholders (``file_content``, ``original_file``) in a template."""
    if not template:
        return set()
    return {m["name"] for m in PLACEHOLDER.finditer(template) if m["name"] in FILE_NAMES}


def single_file_placeholder(template: str | None) -> str | None:
    """The file's name when the template is exactly one file placeholder, else ``None``."""
    match = PLACEHOLDER.fullmatch((template or "").strip())
    return match["name"] if match and match["name"] in FILE_NAMES else None


class TextTemplate:
    """A text template split once into literal text and placeholders, to be rendered often.

    ``pieces`` alternate literal text and placeholder matches, text first and last;
    ``only`` is the placeholder when it is the whole template and renders to text.
    """

    __slots__ = ("pieces", "only")

    def __init__(self, template: str):
        pieces: list = []
        position = 0
        for match in PLACEHOLDER.finditer(template):
            pieces += (template[position : match.start()], match)
            position = match.end()
        pieces.append(template[position:])
        self.pieces = tuple(pieces)
        whole = len(pieces) == 3 and pieces[0] == pieces[2] == ""
        self.only = pieces[1] if whole and pieces[1]["name"] not in FILE_NAMES else None


def render_text(
    template: str | TextTemplate,
    values: TemplateValues,
    where: str,
    missing_datapoint_is_empty=False,
) -> str:
    """Render a text template (URL, header, condition, form field)."""
    if isinstance(template, TextTemplate) and template.only is not None:
        return render_placeholder(template.only, values, where, missing_datapoint_is_empty)
    parts = render_parts(template, values, where, missing_datapoint_is_empty)
    try:
        return "".join(parts)
    except TypeError:  # a file's bytes among the parts
        pass
    try:
        return "".join(p.decode("utf-8") if isinstance(p, bytes) else p for p in parts)
    except UnicodeDecodeError:
        raise TemplateError(f"{where}: a file placeholder here needs a UTF-8 text file") from None


def render_bytes(template: str, values: TemplateValues, where: str) -> bytes:
    """Render a body template; file bytes are inserted unchanged, text as UTF-8."""
    parts = render_parts(template, values, where)
    return b"".join(p if isinstance(p, bytes) else p.encode("utf-8") for p in parts)


def render_parts(
    template: str | TextTemplate,
    values: TemplateValues,
    where: str,
    missing_datapoint_is_empty=False,
) -> list[str | bytes]:
    """Literal text and rendered values, alternating, text first and last."""
    pieces = (template if isinstance(template, TextTemplate) else TextTemplate(template)).pieces
    parts = list(pieces)
    for index in range(1, len(parts), 2):
        parts[index] = render_placeholder(pieces[index], values, where, missing_datapoint_is_empty)
    return parts


def render_placeholder(match, values, where, missing_datapoint_is_empty) -> str | bytes:
    if match["datapoint"] is not None:
        schema_id = match["datapoint"]
        value = values.datapoint(schema_id)
        if value is None:
            if missing_datapoint_is_empty:
                return ""
            raise missing_datapoint(schema_id, where)
        return value
    if match["secret"] is not None:
        name = match["secret"]
        if name not in values.secrets:
            raise TemplateError(
                f"{where}: secret {name!r} ({{secret.{name}}}) is not set in the hook's secrets"
            )
        return str(values.secrets[name])
    name = match["name"]
    if name in FILE_NAMES:
        if name not in values.files:
            raise TemplateError(f"{where}: #{{{name}}} cannot be used here")
        return values.files[name]
    if name in values.variables:
        return values.variables[name]
    raise TemplateError(f"{where}: unknown placeholder #{{{name}}}")


def missing_datapoint(schema_id: str, where: str) -> TemplateError:
    return TemplateError(
        f"{where}: datapoint {schema_id!r} (@{{{schema_id}}}) is not in the annotation"
    )
