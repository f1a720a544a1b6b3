"""What an export object would send, for ``/preview`` and ``flask preview``.

Nothing is sent, no token is requested, nothing is written to Rossum (files may be
read). Each request is rendered as the export would render it, secrets masked; an
``iterate_over`` export shows one entry per row.
"""

from urllib.parse import urlsplit

from ..errors import ExportError
from .base import Exporter
from .iteration import rows_of
from .transcript import placeholders_in, summarize_request

PREVIEW_TOKEN = "preview-access-token"  # stands in for the token a preview never requests


def preview_requests(exporter: Exporter) -> list[dict]:
    """What this export would send: one request, or one per row with iterate_over."""
    if exporter.settings.iterate_over and exporter.condition_holds():
        return preview_rows(exporter)
    return [preview_request(exporter)]


def preview_request(exporter: Exporter) -> dict:
    """One request as it would be sent, secrets masked."""
    entry = {"path": exporter.settings.path, "exporter": type(exporter).__name__}
    if not exporter.condition_holds():
        return {**entry, "skipped": "its condition is empty or false"}
    if exporter.settings.auth:
        exporter.access_token = PREVIEW_TOKEN
        exporter.context.redactor.add(PREVIEW_TOKEN)
        host = urlsplit(exporter.render_token_request().url).netloc
        entry["token"] = f"the stored token, or a new one from {host}"
    if exporter.row is not None:
        entry["row"] = exporter.row.index
    request = exporter.build_request()
    files = [
        {
            "placeholder": f"#{{{name}}}",
            "name": stored.name,
            "mime_type": stored.mime_type,
            "size": len(stored.read()),
        }
        for name in sorted(exporter.needed_files())
        for stored in [exporter.file(name)]
    ]
    return {
        **entry,
        **summarize_request(request, exporter.context.redactor),
        "placeholders": placeholders_in(exporter.request_templates()),
        "files": files,
    }


def preview_rows(exporter: Exporter) -> list[dict]:
    """One preview entry per row; nothing is sent."""
    name = exporter.settings.iterate_over
    rows = rows_of(exporter.context.content, name)
    if not rows:
        entry = {"path": exporter.settings.path, "exporter": type(exporter).__name__}
        return [{**entry, "skipped": f"no rows of {name}"}]
    previews = []
    for row in rows:
        exporter.row = row
        try:
            previews.append(preview_request(exporter))
        except ExportError as error:  # this row cannot be rendered; the others still show
            previews.append(
                {
                    "path": exporter.settings.path,
                    "exporter": type(exporter).__name__,
                    "row": row.index,
                    "error": exporter.context.redactor.text(f"{error.step}: {error}"),
                }
            )
        finally:
            exporter.row = None
    return previews
