"""Receipts in Rossum (SPEC §9): delivered exports noted in the annotation's metadata.

The state store remembers delivered exports, but it can forget them: a PaaS dyno's
disk (where the default SQLite file lives) is wiped at every restart, a Redis without
persistence restarts empty. So a delivered export also leaves its idempotency key and
time in the annotation's metadata under ``rest_api_export_receipts`` (the newest 50),
and Rossum sends that metadata with every hook call: a delivery whose key is there is
answered "already exported" and not sent, whatever the state store remembers.

A receipt holds a key and a time, nothing else: never a secret, never a request.
"""

import logging
import time
from datetime import datetime, timezone

from .. import messages
from ..errors import RossumAPIError
from ..messages import HookAnswer, Message
from ..rossum import RossumClient

log = logging.getLogger(__name__)

RECEIPTS_KEY = "rest_api_export_receipts"
RECEIPTS_KEPT = 50
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # how a receipt's time is stored (UTC)
SHOWN_TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"  # as the state store's repeat answer shows it


def receipts_in(metadata) -> list[dict]:
    """The well-formed receipts of an annotation's metadata, oldest first.

    The metadata is anyone's to edit: whatever is not a ``{"key": ..., "exported_at": ...}``
    object of strings is left out.
    """
    entries = metadata.get(RECEIPTS_KEY) if isinstance(metadata, dict) else None
    if not isinstance(entries, list):
        return []
    return [
        entry
        for entry in entries
        if isinstance(entry, dict)
        and isinstance(entry.get("key"), str)
        and isinstance(entry.get("exported_at"), str)
    ]


def receipt_for(metadata, key: str | None) -> dict | None:
    """The receipt of the export with idempotency key ``key``, if the metadata holds one."""
    return next((entry for entry in receipts_in(metadata) if entry["key"] == key), None)


def already_exported(annotation: dict, key: str | None) -> HookAnswer | None:
    """The answer to a delivery whose receipt the payload's annotation carries, else None."""
    receipt = receipt_for(annotation.get("metadata"), key)
    if receipt is None:
        return None
    log.info("export %s has a receipt in the annotation's metadata: not sent again", key)
    shown = shown_time(receipt["exported_at"])
    return HookAnswer(
        [messages.info(f"Already exported at {shown}; not sent again.")], outcome="duplicate"
    )


def shown_time(exported_at: str) -> str:
    """A stored receipt time as the repeat answers show times; as stored if it is not ours."""
    try:
        moment = datetime.strptime(exported_at, TIME_FORMAT)
    except ValueError:
        return exported_at[:40]
    return moment.strftime(SHOWN_TIME_FORMAT)


def new_receipt(key: str) -> dict:
    """A receipt of the export with idempotency key ``key``, delivered now."""
    moment = datetime.fromtimestamp(time.time(), timezone.utc)
    return {"key": key, "exported_at": moment.strftime(TIME_FORMAT)}


def with_receipts(metadata: dict, receipts: list[dict]) -> dict:
    """``metadata`` with ``receipts`` added as the newest; the newest 50 kept, other keys too."""
    if not receipts:
        return metadata
    added = {receipt["key"] for receipt in receipts}
    kept = [entry for entry in receipts_in(metadata) if entry["key"] not in added]
    return {**metadata, RECEIPTS_KEY: [*kept, *receipts][-RECEIPTS_KEPT:]}


class DueReceipts:
    """The receipts of one hook call's delivered exports not yet written into Rossum.

    A receipt rides along with the next metadata PATCH of its export (stored replies or
    the transcript); :func:`write_due` writes what is left in a PATCH of its own.
    """

    def __init__(self):
        self.receipts: list[dict] = []

    def __bool__(self) -> bool:
        return bool(self.receipts)

    def add(self, key: str) -> None:
        self.receipts.append(new_receipt(key))

    def added_to(self, metadata: dict) -> dict:
        return with_receipts(metadata, self.receipts)

    def written(self) -> None:
        self.receipts = []


def note_delivered(due: DueReceipts, deduplicate: bool, key: str | None) -> None:
    """A delivered export gets a receipt, when it is protected from duplicates at all."""
    if deduplicate and key:
        due.add(key)


def write_due(due: DueReceipts, rossum: RossumClient, annotation_url: str) -> list[Message]:
    """Write the receipts still due in one metadata PATCH; a warning message if that fails.

    The export was delivered whatever happens here: a receipt that cannot be written
    never fails it, and the state store still stops repeats while it remembers them.
    """
    if not due:
        return []
    try:
        rossum.update_annotation_metadata(annotation_url, due.added_to)
    except RossumAPIError as failure:
        log.warning("could not write an export receipt into the annotation: %s", failure)
        return [
            messages.warning(
                "Exported, but its receipt could not be written into the annotation's "
                f"metadata ({RECEIPTS_KEY}): {failure}. A repeat delivery is still not sent "
                "while this service's state store remembers the export."
            )
        ]
    due.written()
    return []
