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
from ..state import (
    DELIVERED,
    IN_FLIGHT,
    SENT,
    UNKNOWN,
    ExportRecord,
    StateStore,
    StateStoreUnavailable,
)
from ..state.base import LIVE_STATES
from ..state.heartbeat import Heartbeat
from . import progress
from .delivery import OutgoingRequest

log = logging.getLogger(__name__)

# What #{idempotency_key} renders to until the key, which depends on the rendered
# request, is known; then it is replaced by the key everywhere in the request.
KEY_MARKER = "idempotency-key-1c6b0f3e9a"
FIRST_PAUSE_S = 0.05  # waiting for another delivery of the same export: backoff
LONGEST_PAUSE_S = 1.0
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


class ClaimTaken(Exception):
    """Another delivery claimed the export first, the moment before ours would have gone out."""

    def __init__(self, record: ExportRecord):
        super().__init__("claimed by another delivery")
        self.record = record


class DuplicateGuard:
    """Claims an export in the state store as its request goes out, records how far it got.

    The store is read first: a delivered export is answered from memory, and one another
    delivery is sending is waited for. Nothing is written while the export is fetched,
    rendered and connected; the claim is taken the moment request bytes are about to go
    out (see :mod:`.progress`), in one atomic write that records ``sent`` — so an owner
    that dies before that leaves nothing behind and the next delivery sends at once, and
    of two deliveries racing the loser stops before its first byte and waits for the
    other. The lease is renewed by the heartbeat while this process sends; a 2xx status
    line → ``delivered``, the moment it arrives; a refusal (4xx/5xx) → ``in_flight``, as
    nothing was delivered. A 3xx keeps ``sent``: the redirected request decides.
    """

    def __init__(
        self, store: StateStore, heartbeat: Heartbeat, ttl_s: float, wait_s: float, lease_s: float
    ):
        self.store = store
        self.heartbeat = heartbeat
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
        deadline = time.monotonic() + self.wait_s
        while True:
            earlier = self.settled_record(key, deadline)
            take_over = False
            if earlier is not None:
                if earlier.state == DELIVERED:
                    return self.repeat_answer(earlier)
                if earlier.state == IN_FLIGHT and earlier.abandoned:
                    log.info("sending export %s: its earlier claim ended with nothing sent", key)
                elif not resend_allowed or earlier.state in LIVE_STATES and not earlier.abandoned:
                    return HookAnswer([self.refusal(earlier, request)])
                else:
                    log.info("resending export %s: it carries its idempotency key", key)
                take_over = True
            try:
                return self.send_claimed(request, owner, take_over, send)
            except ClaimTaken:
                continue  # another delivery's claim came first: wait for its outcome

    def send_claimed(self, request, owner: str, take_over: bool, send) -> HookAnswer:
        key = request.idempotency_key
        stages = ClaimStages(self, key, owner, take_over)
        with self.heartbeat.keeping_claim(key, owner), progress.reporting_to(stages):
            try:
                outcome = send(request)
            except TargetError as failure:
                if failure.unknown_outcome and stages.claimed:
                    self.store.advance(key, owner, UNKNOWN, 0, self.ttl_s, {})
                elif stages.claimed:
                    self.store.release(key, owner)
                raise
            except (StateStoreUnavailable, ClaimTaken):
                raise  # nothing more can be recorded / nothing of ours went out
            except BaseException:
                if stages.claimed:
                    self.store.release(key, owner)  # nothing reached the target
                raise
        if outcome.messages and outcome.messages[0].type == "error":
            if stages.claimed:
                self.store.release(key, owner)  # the target refused it: a repeat must send
            return outcome
        if not stages.claimed:  # sent by a transport that reports no progress (a test double)
            stages.claim()
        self.store.advance(key, owner, DELIVERED, 0, self.ttl_s, outcome.to_json())
        return outcome

    def settled_record(self, key: str, deadline: float) -> ExportRecord | None:
        """The export's record, waited for while another live delivery holds it (backing
        off, until ``deadline``); None when there is none."""
        pause = FIRST_PAUSE_S
        while True:
            record = self.store.get(key)
            if record is None or record.state not in LIVE_STATES or record.abandoned:
                return record
            if time.monotonic() + pause >= deadline:
                return record
            time.sleep(pause)  # the same export is being sent: wait for it, backing off
            pause = min(pause * 2, LONGEST_PAUSE_S)

    @staticmethod
    def repeat_answer(record: ExportRecord) -> HookAnswer:
        earlier = HookAnswer.from_json(record.answer, outcome="duplicate")
        earlier.messages.append(
            messages.info(f"Already exported at {when(record)}; not sent again.")
        )
        return earlier

    @staticmethod
    def refusal(record: ExportRecord, request: OutgoingRequest) -> Message:
        if record.state in LIVE_STATES and not record.abandoned:
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


class ClaimStages:
    """Takes the claim as the request goes out; records its stage as the wire reports."""

    def __init__(self, guard: DuplicateGuard, key: str, owner: str, take_over: bool):
        self.guard, self.key, self.owner = guard, key, owner
        self.take_over = take_over
        self.stage: str | None = None  # None: not claimed yet, nothing of ours went out

    @property
    def claimed(self) -> bool:
        return self.stage is not None

    def bytes_going_out(self) -> None:
        # Raises before the first byte when the store is down, or another delivery has it.
        if self.stage is None:
            self.claim()
        elif self.stage == IN_FLIGHT:
            self.record(SENT)

    def claim(self) -> None:
        guard = self.guard
        if self.take_over:
            guard.store.take_over(self.key, self.owner, guard.lease_s, SENT, guard.ttl_s)
        else:
            claim = guard.store.claim(self.key, self.owner, guard.lease_s, SENT, guard.ttl_s)
            if not claim.acquired:
                raise ClaimTaken(claim.record)
        self.stage = SENT

    def status_line(self, status: int) -> None:
        stage = DELIVERED if 200 <= status < 300 else IN_FLIGHT if status >= 400 else None
        if stage is None or stage == self.stage or self.stage is None:
            return
        try:
            self.record(stage)
        except StateStoreUnavailable as error:  # the target has answered: carry on
            log.error("could not record that export %s was answered: %s", self.key, error)

    def record(self, stage: str) -> None:
        guard = self.guard
        guard.store.advance(self.key, self.owner, stage, guard.lease_s, guard.ttl_s, {})
        self.stage = stage
