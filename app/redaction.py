"""Masking secret values before text leaves the service: messages, logs, stored documents.

One :class:`Redactor` per hook call knows its secrets (the payload's, the Rossum
token, access tokens and credentials as they are met). Messages and stored
documents pass through it explicitly; log records pass through the redactor bound
to the current context (:func:`bind`) as they are created, tracebacks included.
"""

import contextvars
import logging
from collections.abc import Iterable

MASK = "********"
# Shorter values would mask ordinary words and numbers all over a reply.
SHORTEST_MASKED = 4
SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


class Redactor:
    """Replaces every known secret value with a mask; learns new ones (tokens) as they come."""

    def __init__(self, secrets: Iterable[str] = ()):
        self.values: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= SHORTEST_MASKED and secret not in self.values:
            self.values.append(secret)
            self.values.sort(key=len, reverse=True)  # a secret containing another goes first

    def text(self, text: str) -> str:
        for secret in self.values:
            text = text.replace(secret, MASK)
        return text

    def bytes(self, data: bytes) -> bytes:
        for secret in self.values:
            data = data.replace(secret.encode(), MASK.encode())
        return data

    @classmethod
    def for_payload(cls, secrets: dict, rossum_token: str) -> "Redactor":
        return cls([*secrets.values(), rossum_token])

    def add_sensitive_headers(self, headers: dict) -> None:
        """Credentials in headers count as secrets even when written literally."""
        for name, value in headers.items():
            if name.lower() in SENSITIVE_HEADERS:
                self.add(value)
                self.add(value.partition(" ")[2])  # the credential after "Bearer "/"Basic "


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
