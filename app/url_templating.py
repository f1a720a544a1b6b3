"""URL templates (SPEC §5): a value cannot move the request out of the path the template wrote.

When a URL template writes its scheme and host itself (``https://erp.example.com/...``),
a value inserted into its path must not hold a ``.`` or ``..`` segment (``../../admin``,
``a/../b``, ``%2e%2e``): servers and proxies resolve those and the request would go to
another path of the customer's API. The user's own literal text is not second-guessed,
and a URL that a placeholder gives whole (``@{api4_url}``) is the user's URL.
"""

import re
from urllib.parse import unquote

from .errors import TemplateError
from .templating import PLACEHOLDER, TemplateValues, render_parts

# scheme://authority followed by the start of the path, query or fragment, all literal
WRITTEN_ORIGIN = re.compile(r"\s*[A-Za-z][A-Za-z0-9+.-]*://[^/?#\\]+(?=[/?#\\])")
# "/" and what servers also take for it: "\" and their percent-encodings
SEGMENT_SEPARATOR = re.compile(r"/|\\|%2f|%5c", re.IGNORECASE)
DOT_SEGMENTS = frozenset({".", ".."})


def render_url(template: str, values: TemplateValues, where: str) -> str:
    """Render a URL template; a value that adds a dot segment to a written path is an error."""
    parts = [as_text(part, where) for part in render_parts(template, values, where)]
    url = "".join(parts)
    written = WRITTEN_ORIGIN.match(template)
    first = PLACEHOLDER.search(template)
    if first is None or written is None or first.start() < written.end():
        return url
    # render_parts alternates literal text and values, one value per placeholder in order
    spans, position = [], 0
    for index, (part, match) in enumerate(
        zip(parts[1::2], PLACEHOLDER.finditer(template), strict=True)
    ):
        position += len(parts[2 * index])
        spans.append((position, position + len(part), match[0]))
        position += len(part)
    check_path_values(url, written.end(), spans, where)
    return url


def as_text(part: str | bytes, where: str) -> str:
    if isinstance(part, str):
        return part
    try:
        return part.decode("utf-8")
    except UnicodeDecodeError:
        raise TemplateError(f"{where}: a file placeholder here needs a UTF-8 text file") from None


def check_path_values(url: str, path_start: int, spans: list, where: str) -> None:
    """Raise when a dot segment of the URL's path takes characters from a placeholder's value.

    ``spans`` are (start, end, placeholder) of each value in ``url``.
    """
    path_end = len(url)
    for separator in ("?", "#"):
        position = url.find(separator, path_start)
        if position != -1:
            path_end = min(path_end, position)
    start = path_start
    for boundary in [*SEGMENT_SEPARATOR.finditer(url, path_start, path_end), None]:
        end = boundary.start() if boundary else path_end
        if unquote(url[start:end]) in DOT_SEGMENTS:
            for value_start, value_end, placeholder in spans:
                if value_start < end and start < value_end:
                    raise TemplateError(
                        f"{where}: the value of {placeholder} holds a '.' or '..' path "
                        "segment, which would send the request to another path of the API; "
                        "nothing was sent"
                    )
        start = boundary.end() if boundary else end
