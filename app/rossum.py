"""The Rossum API client: annotation content, export files, original documents (SPEC §3, §5)."""

import hashlib
import io
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from tempfile import SpooledTemporaryFile
from typing import BinaryIO
from urllib.parse import urlsplit

import requests

from . import metrics
from .errors import RossumAPIError
from .security import origin_of_or_none

log = logging.getLogger(__name__)

RATE_LIMIT_ATTEMPTS = 3
SPOOL_IN_MEMORY = 1024 * 1024  # larger files are spooled to a temporary file
DOWNLOAD_CHUNK = 64 * 1024
DETAIL_LENGTH = 300


@dataclass
class StoredFile:
    """A document stored in Rossum: its name, MIME type, and its bytes fetched once.

    The bytes are digested as they stream in and kept in memory up to
    ``SPOOL_IN_MEMORY``; a larger file goes to a temporary file, so a large original PDF
    never sits in memory whole and the file's identity needs no second read.
    """

    name: str
    mime_type: str
    content_url: str
    client: "RossumClient" = field(repr=False)
    _spool: BinaryIO | None = field(default=None, repr=False)
    size: int = 0
    sha256: str = ""

    @classmethod
    def from_bytes(cls, name, mime_type, content_url, client, content: bytes) -> "StoredFile":
        stored = cls(name, mime_type, content_url, client)
        stored.fill([content])
        return stored

    def fetch(self) -> None:
        if self._spool is None:
            self.fill(self.client.stream_bytes(self.content_url, f"download {self.name!r}"))

    def fill(self, chunks) -> None:
        # A file that stays small is kept as bytes; a larger one goes to a spool that lives
        # as long as this object (one hook call) and is closed when it is collected.
        digest, size, held, spool = hashlib.sha256(), 0, [], None
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            if spool is None and size <= SPOOL_IN_MEMORY:
                held.append(chunk)
                continue
            if spool is None:
                spool = SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
                spool.writelines(held)
                held = []
            spool.write(chunk)
        self._spool = spool if spool is not None else io.BytesIO(b"".join(held))
        self.size, self.sha256 = size, digest.hexdigest()

    def open(self) -> BinaryIO:
        """The bytes as a file, from the start (one handle: one reader at a time)."""
        self.fetch()
        self._spool.seek(0)
        return self._spool

    def read(self) -> bytes:
        """All the bytes, in memory (for text templates that embed the file)."""
        self.fetch()
        if isinstance(self._spool, io.BytesIO):
            return self._spool.getvalue()
        return self.open().read()

    def body(self) -> bytes | BinaryIO:
        """The file as a request body: its bytes while it is small, else streamed from disk.

        A small file stays in memory: requests would roll a spool to disk to find its
        size (``fileno()``), so it is given the bytes instead.
        """
        self.fetch()
        return self.read() if self.size <= SPOOL_IN_MEMORY else self.open()

    @property
    def identity(self) -> str:
        """Which document, with which content: for duplicate protection."""
        self.fetch()
        return f"{self.content_url}#sha256={self.sha256}"


class RossumClient:
    """Calls the Rossum API with the hook call's token; every failure is a RossumAPIError."""

    def __init__(
        self,
        session: requests.Session,
        base_url: str,
        token: str,
        timeout: float,
        retry_after_max: float,
    ):
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.origin = origin_of_or_none(self.base_url)
        self.token = token
        self.timeout = timeout
        self.retry_after_max = retry_after_max
        # Set when the hook call may have been answered 202 before this export ends.
        self.answered_late: Callable[[], bool] = lambda: False

    def api_url(self, path: str) -> str:
        return f"{self.base_url}/api/v1/{path.lstrip('/')}"

    def annotation_content(self, url: str) -> list:
        """The content tree behind an annotation_status payload's content URL."""
        data = self.get_json(url, "read the annotation content")
        content = data.get("content") if isinstance(data, dict) else None
        if not isinstance(content, list):
            raise RossumAPIError(f"the annotation content at {url} has no content list")
        return content

    def export_relation(self, annotation_id: int, key: str) -> dict | None:
        """The export document relation ``key`` of an annotation, or ``None``."""
        relations = self.get_json(
            self.api_url("document_relations"),
            f"look up the export document relation {key!r}",
            params={"type": "export", "annotation": annotation_id, "key": key},
        )
        results = relations.get("results") if isinstance(relations, dict) else None
        return results[0] if results and isinstance(results[0], dict) else None

    def export_file(self, annotation_id: int, key: str) -> StoredFile:
        """The first document of the export relation ``key`` of an annotation."""
        relation = self.export_relation(annotation_id, key)
        documents = (relation or {}).get("documents")
        if not documents:
            raise RossumAPIError(
                f"no export document with key {key!r} for annotation {annotation_id}: "
                "check export_reference_key and that the step that creates it ran before"
            )
        document = self.get_json(documents[0], f"read the export document {key!r}")
        return self.stored_file(document, documents[0])

    def store_export_document(
        self, annotation: dict, key: str, file_name: str, content: bytes, mime_type: str
    ) -> str:
        """Store a file as the only document of the annotation's export relation ``key``.

        An existing relation gets the new document and its previous documents are
        deleted, so re-exports leave no copies behind. Returns the new document's URL.
        """
        created = self.call(
            "POST",
            self.api_url("documents"),
            f"store {file_name!r}",
            files={"content": (file_name, content, mime_type)},
        )
        document_url = json_of(created, f"store {file_name!r}").get("url")
        if not document_url:
            raise RossumAPIError(f"could not store {file_name!r}: the answer has no document URL")
        relation = self.export_relation(annotation["id"], key)
        if relation is None:
            self.call(
                "POST",
                self.api_url("document_relations"),
                f"create the export document relation {key!r}",
                json={
                    "type": "export",
                    "key": key,
                    "annotation": annotation["url"],
                    "documents": [document_url],
                },
            )
            return document_url
        self.call(
            "PATCH",
            relation["url"],
            f"update the export document relation {key!r}",
            json={"documents": [document_url]},
        )
        for replaced in relation.get("documents") or []:
            if replaced != document_url:
                self.call("DELETE", replaced, f"delete the replaced document of {key!r}")
        return document_url

    def replace_hook_secrets(self, hook_url: str, secrets: dict) -> None:
        """Replace the hook's secrets whole (Rossum keeps no others, so pass them all)."""
        self.call(
            "PATCH",
            hook_url,
            "save the access token in the hook's secrets",
            json={"secrets": secrets},
        )

    def update_annotation_metadata(
        self, annotation_url: str, change: Callable[[dict], dict]
    ) -> None:
        """Replace an annotation's metadata with ``change(metadata)`` of what it holds now.

        ``change`` gets a copy of the current metadata and returns the whole new metadata,
        so it keeps every key it does not mean to change.
        """
        current = self.get_json(annotation_url, "read the annotation's metadata")
        metadata = current.get("metadata") if isinstance(current, dict) else None
        self.call(
            "PATCH",
            annotation_url,
            "update the annotation's metadata",
            json={"metadata": change(dict(metadata or {}))},
        )

    def stored_file(self, document: dict, document_url: str) -> StoredFile:
        """A file from a Rossum document object."""
        return StoredFile(
            name=document.get("original_file_name") or "document",
            mime_type=document.get("mime_type") or "application/octet-stream",
            content_url=document.get("content") or f"{document_url.rstrip('/')}/content",
            client=self,
        )

    def get_json(self, url: str, what: str, params: dict | None = None):
        return json_of(self.call("GET", url, what, params=params), what)

    def stream_bytes(self, url: str, what: str) -> Iterator[bytes]:
        """A response body in chunks, never whole in memory."""
        response = self.call("GET", url, what, stream=True)
        with response:
            try:
                yield from response.iter_content(DOWNLOAD_CHUNK)
            except requests.RequestException as exc:
                raise RossumAPIError(
                    f"could not {what}: the download from {host_of(url)} broke off "
                    f"({type(exc).__name__})"
                ) from None

    def call(self, method: str, url: str, what: str, **kwargs) -> requests.Response:
        """One API call; a 429 is retried after its Retry-After (bounded), any error raised."""
        # The token goes to Rossum and nowhere else.
        if origin_of_or_none(url) != self.origin:
            raise RossumAPIError(f"could not {what}: {host_of(url)} is not the Rossum host")
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        for attempt in range(1, RATE_LIMIT_ATTEMPTS + 1):
            try:
                response = self.session.request(
                    method, url, headers=headers, timeout=self.timeout, **kwargs
                )
            except requests.RequestException as exc:
                metrics.ROSSUM_CALLS.labels("error").inc()
                reason = type(exc).__name__
                raise RossumAPIError(
                    f"could not {what}: {method} {host_of(url)} failed ({reason})"
                ) from None
            metrics.ROSSUM_CALLS.labels(str(response.status_code)).inc()
            if response.status_code == 429 and attempt < RATE_LIMIT_ATTEMPTS:
                wait = retry_after_seconds(response, self.retry_after_max)
                log.warning("Rossum API rate-limited %s %s; waiting %.1f s", method, url, wait)
                time.sleep(wait)
                continue
            if response.ok:
                return response
            hint = ""
            if response.status_code == 401 and self.answered_late():
                hint = (
                    " (the hook call was answered 202 and Rossum's token expired: raise the "
                    "hook's token_lifetime_s, up to 7200 s)"
                )
            raise RossumAPIError(
                f"could not {what}: {method} {path_of(url)} answered {response.status_code}"
                f"{detail_of(response)}{hint}"
            )
        raise AssertionError("unreachable")  # the loop always returns or raises


def json_of(response: requests.Response, what: str):
    """A Rossum answer's JSON body."""
    try:
        return response.json()
    except ValueError:
        raise RossumAPIError(
            f"could not {what}: {response.request.method} {path_of(response.url)} "
            "did not answer JSON"
        ) from None


def retry_after_seconds(response: requests.Response, ceiling: float) -> float:
    """Seconds a Retry-After header asks for (delta or HTTP date), within [0, ceiling]."""
    value = response.headers.get("Retry-After", "")
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            seconds = 1.0
    return max(0.0, min(seconds, ceiling))


def detail_of(response: requests.Response) -> str:
    """Rossum's error detail (its JSON ``detail`` or the text head), for a message."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    text = str(detail) if detail else response.text.strip()
    return f": {text[:DETAIL_LENGTH]}" if text else ""


def host_of(url: str) -> str:
    return urlsplit(url).netloc or url


def path_of(url: str) -> str:
    """A URL without its scheme (host and path, query kept): short enough for a message."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "")
