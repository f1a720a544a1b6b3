"""What an export request must be to be sent at all: a usable URL, sendable headers.

Checked on the rendered request, before anything goes out (SPEC §5, §11), so that a
bad value is an export error naming the URL or header — never a ``500`` from deep in
requests or http.client.
"""

import re
from urllib.parse import urlsplit

from .errors import TemplateError

HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
NOT_LATIN_1 = re.compile(r"[^\x00-\xff]")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1 (Unicode category Cc)
CONTROL_BUT_TAB = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be sent to, or ``None`` when it is a usable http(s) URL."""
    try:
        url.encode("utf-8")
    except UnicodeEncodeError:
        return "holds text that cannot be encoded (a lone UTF-16 surrogate)"
    if control := first_match(CONTROL, url):
        return f"holds a control character ({control})"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # "Invalid IPv6 URL", "Port out of range 0-65535", ...
        return f"cannot be parsed ({exc})"
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "does not give an http(s) URL"
    host = parts.hostname or ""
    if not host:
        return "has no host"
    if port == 0:
        return "has port 0"
    if ":" not in host:  # not an IPv6 literal: a host name, label by label
        return host_name_problem(host)
    return None


def host_name_problem(host: str) -> str | None:
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if any(not label for label in labels):
        return f"has an empty label in its host name {host!r}"
    if " " in host:
        return f"has a space in its host name {host!r}"
    try:
        host.encode("idna")
    except UnicodeError:
        return f"has a host name that cannot be encoded (IDNA): {host!r}"
    return None


def check_url(url: str, template: str, where: str) -> None:
    """A :class:`TemplateError` naming the URL's setting when it cannot be sent to."""
    problem = url_problem(url)
    if problem:
        raise TemplateError(f"{where}: {template!r} {problem}")


def header_problem(name: str, value: str) -> str | None:
    """Why a header cannot be sent as HTTP (RFC 9110 field syntax), or ``None``."""
    if not HEADER_NAME.fullmatch(name):
        return "its name is not a valid HTTP header name"
    if character := first_match(NOT_LATIN_1, value):
        return f"its value has a character outside ISO-8859-1 ({character})"
    if control := first_match(CONTROL_BUT_TAB, value):
        return f"its value has a control character ({control}); it cannot be sent as HTTP"
    return None


def check_headers(headers: dict[str, str], where: str) -> None:
    """A :class:`TemplateError` naming the first header that cannot be sent."""
    for name, value in headers.items():
        problem = header_problem(name, value)
        if problem:
            raise TemplateError(f"{where}.{name}: {problem}; nothing was sent")


def first_match(characters: re.Pattern, text: str) -> str | None:
    """``U+000A at position 3`` for the first of ``characters`` in ``text``."""
    found = characters.search(text)
    return f"U+{ord(found[0]):04X} at position {found.start()}" if found else None
