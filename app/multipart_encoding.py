"""``multipart/form-data`` bodies with part names and file names as SPEC §4 writes them.

A name is a quoted string with ``"`` and ``\\`` backslash-escaped and non-ASCII as raw
UTF-8 — what python-multipart (FastAPI), PHP, busboy and werkzeug read back as written.
urllib3's default (the WHATWG form) writes ``"`` as ``%22``, which those read literally.
Line breaks cannot be in a header at all: they stay percent-encoded as urllib3 has them.
"""

from requests_toolbelt import MultipartEncoder
from urllib3.fields import RequestField

ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\r": "%0D", "\n": "%0A"})


def quoted_header_param(name: str, value: str | bytes) -> str:
    """``name="value"`` with the value as an RFC 9110 quoted string (UTF-8 kept raw)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return f'{name}="{value.translate(ESCAPES)}"'


class QuotedNamesField(RequestField):
    """A part whose header parameters are quoted strings (urllib3's documented override)."""

    def _render_part(self, name: str, value: str | bytes) -> str:
        return quoted_header_param(name, value)


class MultipartBody(MultipartEncoder):
    """requests-toolbelt's streaming encoder, its parts' names written as quoted strings.

    ``fields`` is a list of ``(name, (file name or None, value[, content type]))``.
    """

    def _iter_fields(self):
        for name, (file_name, value, *content_type) in self.fields:
            field = QuotedNamesField(name=name, data=value, filename=file_name)
            field.make_multipart(content_type=content_type[0] if content_type else None)
            yield field
