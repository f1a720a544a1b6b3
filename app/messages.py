"""Hook answers (SPEC §2): ``{"messages": [...], "operations": []}``."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Message:
    type: str  # "error", "warning" or "info"
    content: str

    def to_json(self) -> dict:
        return {"type": self.type, "content": self.content}


def error(content: str) -> Message:
    return Message("error", content)


def warning(content: str) -> Message:
    return Message("warning", content)


def info(content: str) -> Message:
    return Message("info", content)


@dataclass
class HookAnswer:
    """What a hook call is answered with; an ``error`` message fails the export in Rossum."""

    messages: list[Message] = field(default_factory=list)
    operations: list[dict] = field(default_factory=list)
    # For metrics and logs, never sent: skipped or duplicate; else derived from the messages.
    outcome: str | None = field(default=None, compare=False)

    @property
    def failed(self) -> bool:
        return any(message.type == "error" for message in self.messages)

    def outcome_label(self) -> str:
        """success, warning, error, skipped or duplicate."""
        if self.failed:
            return "error"
        if self.outcome:
            return self.outcome
        return "warning" if any(m.type == "warning" for m in self.messages) else "success"

    @classmethod
    def from_json(cls, data: dict, outcome: str | None = None) -> "HookAnswer":
        """An answer as :meth:`to_json` gave it (stored for a job or a delivered export)."""
        return cls(
            [Message(m["type"], m["content"]) for m in data.get("messages", [])],
            list(data.get("operations", [])),
            outcome=outcome,
        )

    def mask(self, redact) -> None:
        """Pass every message's text through ``redact`` (a Redactor's ``text``)."""
        self.messages = [Message(m.type, redact(m.content)) for m in self.messages]

    def to_json(self) -> dict:
        return {
            "messages": [message.to_json() for message in self.messages],
            "operations": list(self.operations),
        }
