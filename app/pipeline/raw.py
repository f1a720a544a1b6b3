"""RawBodyExporter: the rendered ``content`` as the body, or no body at all."""

from ..settings import RequestSettings
from ..templating import TemplateValues, render_bytes, single_file_placeholder
from .base import Body, Exporter


class RawBodyExporter(Exporter):
    """Sends ``content``; when it is exactly one file placeholder, the file's bytes unchanged."""

    @classmethod
    def handles(cls, request: RequestSettings) -> bool:
        return request.file_key is None and request.request_data is None

    def body_templates(self) -> list[str]:
        return [self.request.content] if self.request.content is not None else []

    def build_body(self, values: TemplateValues) -> Body:
        content = self.request.content
        if content is None:
            return Body()
        single_file = single_file_placeholder(content)
        if single_file:
            return Body(data=values.files[single_file])
        return Body(data=render_bytes(content, values, self.where("content")))
