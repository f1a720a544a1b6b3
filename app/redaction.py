"""Masking secret values before text leaves the service (messages, stored documents)."""

from collections.abc import Iterable

MASK = "********"
# Shorter values would mask ordinary words and numbers all over a reply.
SHORTEST_MASKED = 4


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
