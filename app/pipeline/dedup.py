"""Duplicate protection (SPEC §9): never send the same export twice.

Every export request gets an idempotency key derived from the hook, the annotation,
the export object and what is sent — rendered with the values that differ per delivery
by nature (``#{request_id}``, access tokens; the Rossum token is never in a request)
held fixed at stand-ins, so a re-delivery has the same key (SPEC §5).
``#{idempotency_key}`` renders that key. A delivered export is remembered under it; a
repeat is answered from memory. An export whose outcome is unknown (sent, no answer) is
not sent again blindly.
"""

import hashlib
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone

from .. import messages
from ..errors import TargetError
from ..json_templating import template_strings
from ..messages import HookAnswer, Message
from ..state import DELIVERED, IN_FLIGHT, UNKNOWN, ExportRecord, StateStore
from .delivery import OutgoingRequest

log = logging.getLogger(__name__)

# What #{idempotency_key} renders to until the key, which depends on the rendered
# request, is known; then it is replaced by the key everywhere in the request.
KEY_MARKER = "idempotency-key-1c6b0f3e9a"
POLL_INTERVAL_S = 0.1
# Placeholders whose values differ per delivery of the same export.
PER_DELIVERY = re.compile(r"#\{request_id\}|\{secret\.(?:access|refresh)_token[^{}\s]*\}")


def per_delivery_secret(name: str) -> bool:
    """Tokens kept in the hook's secrets are renewed between deliveries."""
    return name.startswith(("access_token", "refresh_token"))


def varies_per_delivery(templates: list) -> bool:
    """Whether a template (or a templating operator's string) uses a per-delivery value."""
    return any(PER_DELIVERY.search(text) for t in templates for text in template_strings(t))


def idempotency_key(scope: tuple, request: OutgoingRequest, access_token: str | None = None) -> str:
    """A digest of ``scope`` (hook, annotation, export) and the request as the key sees it
    (per-delivery values at stand-ins); an ``access_token`` given is masked too."""
    digest = hashlib.sha256()

    def add(value) -> None:
        data = value if isinstance(value, bytes) else str(value).encode()
        if access_token:
            data = data.replace(access_token.encode(), b"<access_token>")
        digest.update(len(data).to_bytes(8, "big") + data)

    for part in (*scope, request.method, request.url):
        add(part)
    for name, value in sorted((n.lower(), v) for n, v in request.headers.items()):
        add(name)
        add(value)
    if isinstance(request.data, dict):
        for name, value in sorted(request.data.items()):
            add(name)
            add(value)
    elif isinstance(request.data, (bytes, str)):
        add(request.data)
    for name, (file_name, content, *content_type) in request.files or []:
        streamed = not isinstance(content, (bytes, str))  # a file: body_identity has it
        for part in (name, file_name or "", "<file>" if streamed else content, *content_type):
            add(part)
    if request.body_identity:
        add(request.body_identity)
    return digest.hexdigest()[:32]


def with_key(request: OutgoingRequest, key: str) -> OutgoingRequest:
    """The request with the key in place of every marker."""

    def put(value):
        if isinstance(value, bytes):
            return value.replace(KEY_MARKER.encode(), key.encode())
        if isinstance(value, str):
            return value.replace(KEY_MARKER, key)
        return value

    files = None
    if request.files is not None:
        files = [(name, tuple(put(item) for item in part)) for name, part in request.files]
    data = request.data
    if isinstance(data, dict):
        data = {name: put(value) for name, value in data.items()}
    return replace(
        request,
        url=put(request.url),
        headers={name: put(value) for name, value in request.headers.items()},
        data=put(data),
        files=files,
        idempotency_key=key,
    )


def when(record: ExportRecord) -> str:
    return datetime.fromtimestamp(record.updated_at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


class DuplicateGuard:
    """Claims an export in the state store before sending, records what came of it."""

    def __init__(self, store: StateStore, ttl_s: float, wait_s: float, lease_s: float):
        self.store = store
        self.ttl_s = ttl_s
        self.wait_s = wait_s
        self.lease_s = lease_s

    def run(
        self,
        request: OutgoingRequest,
        resend_allowed: bool,
        send: Callable[[OutgoingRequest], HookAnswer],
    ) -> HookAnswer:
        """Send through ``send`` unless this export was delivered, or may have been."""
        key, owner = request.idempotency_key, uuid.uuid4().hex
        earlier = self.claim(key, owner)
        if earlier is not None:
            if earlier.state == DELIVERED:
                return self.repeat_answer(earlier)
            if not resend_allowed or earlier.state == IN_FLIGHT and not self.abandoned(earlier):
                return HookAnswer([self.refusal(earlier, request)])
            log.info("resending export %s: it carries its idempotency key", key)
            self.store.take_over(key, owner, self.lease_s, self.ttl_s)
        try:
            outcome = send(request)
        except TargetError as failure:
            if failure.unknown_outcome:
                self.store.finish(key, owner, UNKNOWN, {}, self.ttl_s)
            else:
                self.store.release(key, owner)
            raise
        except BaseException:
            self.store.release(key, owner)  # nothing reached the target
            raise
        if outcome.messages and outcome.messages[0].type == "error":
            self.store.release(key, owner)  # the target refused it: a repeat must send
        else:
            self.store.finish(key, owner, DELIVERED, outcome.to_json(), self.ttl_s)
        return outcome

    def claim(self, key: str, owner: str) -> ExportRecord | None:
        """None when the export is ours to send; else the record that stops us."""
        deadline = time.monotonic() + self.wait_s
        while True:
            claim = self.store.claim(key, owner, self.lease_s, self.ttl_s)
            if claim.acquired:
                return None
            record = claim.record
            if record.state != IN_FLIGHT or self.abandoned(record):
                return record
            if time.monotonic() >= deadline:
                return record
            time.sleep(POLL_INTERVAL_S)  # the same export is being sent: wait for it

    @staticmethod
    def abandoned(record: ExportRecord) -> bool:
        return record.state == IN_FLIGHT and record.lease_until < time.time()

    @staticmethod
    def repeat_answer(record: ExportRecord) -> HookAnswer:
        earlier = HookAnswer(
            [Message(m["type"], m["content"]) for m in record.answer.get("messages", [])],
            list(record.answer.get("operations", [])),
            outcome="duplicate",
        )
        earlier.messages.append(
            messages.info(f"Already exported at {when(record)}; not sent again.")
        )
        return earlier

    @staticmethod
    def refusal(record: ExportRecord, request: OutgoingRequest) -> Message:
        if record.state == IN_FLIGHT and not DuplicateGuard.abandoned(record):
            return messages.error(
                f"Not sent: the same export to {request.host} is being sent by another "
                f"delivery since {when(record)} and has no outcome yet. Export again later."
            )
        return messages.error(
            f"Not sent again: an earlier delivery of this export at {when(record)} got no "
            f"answer from {request.host}, so the target may already hold it. Check the "
            "target first; to send it again deliberately, send #{idempotency_key} in a "
            'header the target de-duplicates on, or set "deduplicate": false.'
        )
