"""RawBodyExporter: the rendered ``content`` as the body, or no body at all."""

import json

from ..json_templating import OMIT, render_json
from ..settings import RequestSettings
from ..templating import TemplateValues, render_bytes, single_file_placeholder
from .base import Body, Exporter


class RawBodyExporter(Exporter):
    """Sends ``content``; when it is exactly one file placeholder, the file's bytes unchanged.

    A JSON object or array ``content`` is rendered with the templating operators and
    sent as JSON.
    """

    @classmethod
    def handles(cls, request: RequestSettings) -> bool:
        return request.file_key is None and request.request_data is None

    def body_templates(self) -> list:
        return [self.request.content] if self.request.content is not None else []

    def build_body(self, values: TemplateValues) -> Body:
        content = self.request.content
        if content is None:
            return Body()
        if isinstance(content, (dict, list)):  # a JSON body built by the templating operators
            rendered = render_json(content, values, self.scope(), "request.content")
            body = json.dumps(None if rendered is OMIT else rendered, ensure_ascii=False)
            return Body(data=body.encode(), content_type="application/json")
        single_file = single_file_placeholder(content)
        if single_file:  # the bytes when small, else streamed from the spool
            stored = self.file(single_file)
            return Body(data=stored.body(), identity=stored.identity)
        return Body(data=render_bytes(content, values, self.where("content")))
