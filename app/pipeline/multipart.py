"""MultipartExporter: a ``multipart/form-data`` body with a file part and text parts."""

from ..settings import RequestSettings
from ..templating import TemplateValues, render_text
from .base import Body, Exporter


def declares_multipart(headers: dict) -> bool:
    """Whether the user's Content-Type header asks for multipart/form-data."""
    return any(
        name.lower() == "content-type" and value.strip().lower().startswith("multipart/form-data")
        for name, value in headers.items()
    )


class MultipartExporter(Exporter):
    """One file part named ``file_key`` (when given) and one text part per request_data field.

    requests writes the Content-Type with its own boundary; a user Content-Type,
    even one with a hard-coded boundary, is dropped so it cannot break the body.
    """

    @classmethod
    def handles(cls, request: RequestSettings) -> bool:
        return request.file_key is not None or (
            request.request_data is not None and declares_multipart(request.headers)
        )

    @property
    def file_placeholder(self) -> str:
        """Which file the file part carries (SPEC §4 defaults)."""
        if self.request.file_content:
            return self.request.file_content
        return "#{file_content}" if self.settings.export_reference_key else "#{original_file}"

    def body_templates(self) -> list[str]:
        templates = list((self.request.request_data or {}).values())
        if self.request.file_key is not None:
            templates += [self.file_placeholder, self.request.file_name or ""]
        return templates

    def build_body(self, values: TemplateValues) -> Body:
        fields = self.render_fields(self.request.request_data or {}, values, "request_data")
        parts = [(name, (None, value)) for name, value in fields.items()]
        if self.request.file_key is None:
            return Body(files=parts, replaces_content_type=True)
        stored = self.file(self.file_placeholder[2:-1])  # "#{original_file}" -> original_file
        if self.request.file_name:
            file_name = render_text(self.request.file_name, values, self.where("file_name"))
        else:
            file_name = stored.name
        parts.append((self.request.file_key, (file_name, stored.body(), stored.mime_type)))
        return Body(files=parts, replaces_content_type=True, identity=stored.identity)
