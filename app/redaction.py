"""Masking secret values before text leaves the service: messages, logs, stored documents.

One :class:`Redactor` per hook call knows its secrets (SPEC §7): the payload's
secret values, the Rossum token, access and refresh tokens as they are met, and
credentials that are secret by their place even when written literally (``client_secret``
and ``password`` fields, the credentials of an ``Authorization`` header, cookie values).
Nothing else is masked. Each secret is masked raw and in the forms an echo gives it
back (:func:`echo_forms`), in one pass of one compiled pattern.

Messages and stored documents pass through it explicitly; log records pass through
the redactor bound to the current context (:func:`bind`) as they are created,
tracebacks included.
"""

import base64
import contextlib
import contextvars
import json
import logging
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote, urlsplit

MASK = "********"
# Shorter values would mask ordinary words and numbers all over a reply.
SHORTEST_MASKED = 4
SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
CREDENTIAL_FIELDS = frozenset({"client_secret", "password"})
# A text this short is searched for each form on its own before the pattern is built;
# a longer one gets the pattern's single pass.
SCANNED_DIRECTLY = 4096

PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")
JSON_UNICODE_ESCAPE = re.compile(r"\\u[0-9a-f]{4}")


def echo_forms(secret: str) -> set[str]:
    """``secret`` as it may come back: raw, percent-encoded, JSON-escaped."""
    forms = {secret}
    for safe in ("", "/"):
        forms |= {quote(secret, safe=safe), quote_plus(secret, safe=safe)}
    # Some servers write percent escapes in lower case.
    forms |= {PERCENT_ESCAPE.sub(lambda m: m[0].lower(), form) for form in forms}
    for ensure_ascii in (True, False):
        escaped = json.dumps(secret, ensure_ascii=ensure_ascii)[1:-1]
        forms |= {escaped, escaped.replace("/", "\\/")}  # PHP escapes "/" too
        forms.add(JSON_UNICODE_ESCAPE.sub(lambda m: m[0].upper().replace("\\U", "\\u"), escaped))
    return forms


def basic_credentials(user: str, password: str) -> set[str]:
    """The base64 of ``user:password`` as a Basic header has it: plain, and form-encoded."""
    pairs = {f"{user}:{password}", f"{quote_plus(user)}:{quote_plus(password)}"}
    return {base64.b64encode(pair.encode()).decode() for pair in pairs}


class Redactor:
    """Replaces every known secret, in each echo form, with a mask; learns new ones as they come."""

    def __init__(self, secrets: Iterable[str] = ()):
        self.values: list[str] = []  # the secrets as they are; their forms are in _forms
        self._forms: set[str] = set()
        self._patterns: tuple[re.Pattern, re.Pattern] | None = None
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Mask ``secret`` from now on (when it is long enough to be told from ordinary text)."""
        if not isinstance(secret, str) or len(secret) < SHORTEST_MASKED:
            return
        if secret in self.values:
            return
        self.values.append(secret)
        self._forms |= echo_forms(secret)
        self._patterns = None

    def add_basic_credentials(self, user: str | None, password: str | None) -> None:
        """``password`` and the Basic credentials it takes part in."""
        if not password:
            return
        self.add(password)
        for credentials in basic_credentials(user or "", password):
            self.add(credentials)

    def add_credentials(self, fields: dict) -> None:
        """The ``client_secret``/``password`` fields of a token request, even when literal."""
        self.add_basic_credentials(fields.get("client_id"), fields.get("client_secret"))
        self.add_basic_credentials(fields.get("username"), fields.get("password"))

    def add_url_credentials(self, url: str) -> None:
        """The password of a URL's user info (requests sends it as Basic credentials)."""
        parts = urlsplit(url)
        if parts.password:
            self.add(parts.password)
            self.add_basic_credentials(unquote(parts.username or ""), unquote(parts.password))

    def add_sensitive_headers(self, headers: dict) -> None:
        """Authorization credentials and cookie values count as secrets even when literal."""
        for name, value in headers.items():
            lowered = name.lower()
            if lowered not in SENSITIVE_HEADERS or not isinstance(value, str):
                continue
            if lowered == "cookie":
                for cookie in value.split(";"):
                    self.add(cookie.partition("=")[2].strip())
                continue
            scheme, _, credentials = value.strip().partition(" ")
            self.add(credentials.strip() or scheme)
            if scheme.lower() == "basic":
                self.add(decoded_password(credentials.strip()))

    def patterns(self) -> tuple[re.Pattern, re.Pattern] | None:
        """One compiled pattern of every form (text and UTF-8/Latin-1 bytes), built lazily."""
        if self._patterns is None and self._forms:
            raw = {form.encode() for form in self._forms}
            for secret in self.values:  # a reply in a single-byte charset
                with contextlib.suppress(UnicodeEncodeError):
                    raw.add(secret.encode("latin-1"))
            self._patterns = (re.compile(alternation(self._forms)), re.compile(alternation(raw)))
        return self._patterns

    def text(self, text: str) -> str:
        if len(text) <= SCANNED_DIRECTLY and not any(form in text for form in self._forms):
            return text  # nothing to mask: no pattern needed (most messages hold no secret)
        patterns = self.patterns()
        return patterns[0].sub(MASK, text) if patterns else text

    def tree(self, node):
        """A JSON tree with every string masked (before encoding: an echoed escape would be
        escaped once more and no longer look like the secret)."""
        if isinstance(node, str):
            return self.text(node)
        if isinstance(node, dict):
            return {self.text(key): self.tree(value) for key, value in node.items()}
        if isinstance(node, list):
            return [self.tree(item) for item in node]
        return node

    def bytes(self, data: bytes) -> bytes:
        patterns = self.patterns()
        return patterns[1].sub(MASK.encode(), data) if patterns else data

    @classmethod
    def for_payload(cls, secrets: dict, rossum_token: str) -> "Redactor":
        return cls([*secrets.values(), rossum_token])


def alternation(words: set) -> str | bytes:
    """A regular expression matching any of ``words`` (all str or all bytes), the longest
    where several start at one place. Built as a trie, so a prefix that forms share is
    tested once per position instead of once per form."""
    sample = next(iter(words))
    text = (lambda literal: literal) if isinstance(sample, str) else str.encode
    end = sample[:0]  # the key that marks the end of a word
    trie: dict = {}
    for word in words:
        node = trie
        for index in range(len(word)):
            node = node.setdefault(word[index : index + 1], {})
        node[end] = {}

    def pattern(node: dict):
        alternatives = []
        for key, child in node.items():
            if key == end:
                continue
            run = key
            while len(child) == 1 and end not in child:  # no branch: one literal run
                [(more, child)] = child.items()
                run += more
            alternatives.append(re.escape(run) + pattern(child))
        if not alternatives:
            return end
        if len(alternatives) == 1 and end not in node:
            return alternatives[0]
        group = text("(?:") + text("|").join(alternatives) + text(")")
        # a word that ends here matches only when no longer one does
        return group + text("?") if end in node else group

    return pattern(trie)


def decoded_password(credentials: str) -> str | None:
    """The password inside Basic credentials, or None when they are not base64 of ``id:pw``."""
    try:
        decoded = base64.b64decode(credentials, validate=True).decode()
    except ValueError:
        return None
    return decoded.partition(":")[2] or None


_bound: contextvars.ContextVar[Redactor | None] = contextvars.ContextVar("redactor", default=None)


def bind(redactor: Redactor) -> contextvars.Token:
    """Redact every log record created in this context with ``redactor``."""
    return _bound.set(redactor)


def unbind(token: contextvars.Token) -> None:
    _bound.reset(token)


def install_log_redaction() -> None:
    """Wrap the log record factory once, so every record is redacted as it is created."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "redacts", False):
        return

    def redacting_factory(*args, **kwargs):
        record = factory(*args, **kwargs)
        redactor = _bound.get()
        if redactor is not None and redactor.values:
            record.msg, record.args = redactor.text(record.getMessage()), ()
            if record.exc_info:
                record.exc_text = redactor.text(
                    logging.Formatter().formatException(record.exc_info)
                )
        return record

    redacting_factory.redacts = True
    logging.setLogRecordFactory(redacting_factory)
