"""What the exports of one hook call share: the payload, the content tree, fetched files."""

from collections.abc import Mapping
from functools import cached_property

from ..annotation import AnnotationContent
from ..errors import TemplateError
from ..payload import HookPayload
from ..redaction import Redactor
from ..rossum import RossumClient, StoredFile
from ..templating import TemplateValues
from ..tokens import TokenKeeper
from .dedup import KEY_MARKER, per_delivery_secret
from .receipts import DueReceipts


class HookContext:
    """One hook call's data; Rossum is asked for each thing at most once."""

    def __init__(self, payload: HookPayload, rossum: RossumClient, redactor: Redactor):
        self.payload = payload
        self.rossum = rossum
        self._files: dict[tuple, StoredFile] = {}
        self.redactor = redactor
        self.tokens: TokenKeeper | None = None  # set when an export object has auth
        self.receipts = DueReceipts()  # of delivered exports, written with the next metadata

    @cached_property
    def content(self) -> AnnotationContent:
        tree = self.payload.annotation["content"]
        if isinstance(tree, str):  # annotation_status events carry the content's URL
            tree = self.rossum.annotation_content(tree)
        return AnnotationContent(tree)

    def file(self, name: str, export_reference_key: str | None) -> StoredFile:
        """The file behind ``#{file_content}`` or ``#{original_file}``."""
        if name == "original_file":
            key = ("original_file",)
            if key not in self._files:
                document = self.payload.document
                self._files[key] = self.rossum.stored_file(document, document.get("url", ""))
            return self._files[key]
        if not export_reference_key:
            raise TemplateError("#{file_content} is used but export_reference_key is not set")
        key = ("file_content", export_reference_key)
        if key not in self._files:
            self._files[key] = self.rossum.export_file(
                self.payload.annotation_id, export_reference_key
            )
        return self._files[key]

    def store_documents(self, files: dict[str, tuple[str, bytes, str]]) -> None:
        """Store files as the annotation's export documents and note them in its metadata.

        ``files`` maps reference keys to (file name, content, content type).
        """
        annotation = self.payload.annotation
        stored = {
            key: self.rossum.store_export_document(annotation, key, name, content, content_type)
            for key, (name, content, content_type) in files.items()
        }
        # Receipts of delivered exports ride along (SPEC §9): one PATCH for both.
        self.rossum.update_annotation_metadata(
            annotation["url"], lambda metadata: self.receipts.added_to({**metadata, **stored})
        )
        self.receipts.written()

    def template_values(
        self,
        files: Mapping[str, bytes] | None = None,
        access_token: str | None = None,
        stable: bool = False,
    ) -> TemplateValues:
        """What placeholders render to; ``stable``: the per-delivery values (request id,
        tokens) as fixed stand-ins — their placeholders' own text — for the idempotency key."""
        secrets = self.payload.secrets
        if access_token is not None:  # the token of this export's own auth object
            secrets = {**secrets, "access_token": access_token}
        request_id = self.payload.request_id
        if stable:
            request_id = "#{request_id}"
            secrets = {
                name: f"{{secret.{name}}}" if per_delivery_secret(name) else value
                for name, value in secrets.items()
            }
        return TemplateValues(
            datapoint=self.content.value,
            secrets=secrets,
            variables={
                "annotation_id": str(self.payload.annotation_id),
                "request_id": request_id,
                "idempotency_key": KEY_MARKER,  # replaced by the key once it is derived
            },
            files=files or {},
        )


class FileBytes(Mapping):
    """File placeholders' bytes, read only when a template really embeds them."""

    def __init__(self, files: dict[str, StoredFile]):
        self.files = files

    def __getitem__(self, name: str) -> bytes:
        return self.files[name].read()

    def __iter__(self):
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)
