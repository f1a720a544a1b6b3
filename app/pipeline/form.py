"""FormUrlencodedExporter: ``request_data`` rendered and sent URL-encoded."""

from ..settings import RequestSettings
from ..templating import TemplateValues
from .base import Body, Exporter
from .multipart import declares_multipart


class FormUrlencodedExporter(Exporter):
    """``application/x-www-form-urlencoded`` as UTF-8; requests does the encoding."""

    @classmethod
    def handles(cls, request: RequestSettings) -> bool:
        return (
            request.request_data is not None
            and request.file_key is None
            and not declares_multipart(request.headers)
        )

    def body_templates(self) -> list[str]:
        return list(self.request.request_data.values())

    def build_body(self, values: TemplateValues) -> Body:
        return Body(data=self.render_fields(self.request.request_data, values, "request_data"))
