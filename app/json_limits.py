"""JSON input the service refuses before using it (SPEC §11): too deep, or not encodable.

Nesting deeper than :data:`MAX_NESTING` levels and text that cannot be encoded (lone
surrogates, which JSON's ``\\ud800`` escapes can carry) are found where they are, and
named by their JSON path (``settings.export_configs[0].request.url``).
"""

import json
import re

from .errors import Problem
from .garbage_collection import collection_paused

MAX_NESTING = 100
# A \\uD800–\\uDFFF escape, or a UTF-8-encoded surrogate: the only ways JSON text
# can hold one. Most bodies have neither, so the walk for the path is rarely needed.
# Two patterns, each starting with a literal that the regex engine can scan for fast.
SURROGATE_MARKS = (re.compile(rb"\\u[dD][89a-fA-F]"), re.compile(rb"\xed[\xa0-\xbf]"))
NOT_QUOTES_OR_BRACKETS = bytes(sorted(set(range(256)) - set(b'"[]{}')))


class InvalidJSON(ValueError):
    """The text is not JSON this service takes; ``problem`` says where and why."""

    def __init__(self, path: str, message: str):
        # The whole body has no path: "the body is not valid JSON".
        self.problem = Problem(path, message) if path else Problem("", f"the body {message}")
        super().__init__(str(self.problem))


def load_json(body: bytes | str, prefix: str = ""):
    """The JSON value of ``body``; :class:`InvalidJSON` when it is not usable JSON.

    ``prefix`` is prepended to the paths of the problems found (``settings``).
    """
    try:
        with collection_paused():
            data = json.loads(body)
    except RecursionError:
        raise InvalidJSON(prefix, TOO_DEEP) from None
    except (ValueError, UnicodeDecodeError):
        raise InvalidJSON(prefix, "is not valid JSON") from None
    raw = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
    check_text = any(marks.search(raw) for marks in SURROGATE_MARKS)
    if check_text or not surely_shallow(raw):
        problem = json_problem(data, prefix, check_text)
        if problem:
            raise InvalidJSON(problem.path, problem.message)
    return data


def surely_shallow(raw: bytes) -> bool:
    """Whether JSON text surely nests no deeper than :data:`MAX_NESTING` (bytes only).

    Without the walk of :func:`json_problem` over every value: the brackets that are
    not in strings are stripped of their empty pairs, each round one or two levels.
    """
    if json.detect_encoding(raw) != "utf-8":  # UTF-16/32: a bracket's byte is not a bracket
        return raw.count(b"[") + raw.count(b"{") <= MAX_NESTING
    text = raw
    if b"\\" in text:  # escaped backslashes, then quotes: every quote left delimits a string
        text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    text = text.translate(None, NOT_QUOTES_OR_BRACKETS).replace(b'""', b"")
    if b'"' in text:  # strings that hold brackets
        text = b"".join(text.split(b'"')[::2])
    rounds = 0
    while text:
        if 2 * rounds >= MAX_NESTING:
            return False
        text = text.replace(b"{}", b"").replace(b"[]", b"")
        rounds += 1
    return True


def json_problem(value, prefix: str = "", check_text: bool = True) -> Problem | None:
    """The first place where ``value`` nests too deep or holds text that cannot be encoded."""
    if isinstance(value, str):
        return None if not check_text or encodable(value) else Problem(prefix, UNENCODABLE)
    # Containers only (strings too when checked): a big payload is walked in one pass.
    pending = [(value, 0, None)] if isinstance(value, (dict, list)) else []
    while pending:
        item, depth, trail = pending.pop()  # trail: (parent's trail, key or index)
        if depth >= MAX_NESTING:
            return Problem(path_of(trail, prefix), TOO_DEEP)
        members = item.items() if isinstance(item, dict) else enumerate(item)
        for key, member in members:
            if isinstance(member, (dict, list)):
                pending.append((member, depth + 1, (trail, key)))
            elif check_text and isinstance(member, str) and not encodable(member):
                return Problem(path_of((trail, key), prefix), UNENCODABLE)
            if check_text and isinstance(key, str) and not encodable(key):
                return Problem(path_of(trail, prefix), f"has a key that {UNENCODABLE}")
    return None


def path_of(trail, prefix: str) -> str:
    """``settings.export_configs[0].request`` from a trail of keys and indexes."""
    steps = []
    while trail is not None:
        trail, step = trail
        steps.append(step)
    path = prefix
    for step in reversed(steps):
        if isinstance(step, int):
            path += f"[{step}]"
        else:
            path = f"{path}.{step}" if path else step
    return path


TOO_DEEP = f"is nested deeper than {MAX_NESTING} levels"
UNENCODABLE = "holds text that cannot be encoded (a lone UTF-16 surrogate)"


def encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
