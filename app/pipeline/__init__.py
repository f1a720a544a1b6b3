"""The export pipeline: run the export objects of one hook call into one hook answer.

It never imports Flask, so it runs the same in a web worker, a background job or
the command line.
"""

import logging

from .. import messages
from ..errors import ExportError, PayloadError, Problem, SettingsError
from ..messages import HookAnswer, Message
from ..payload import HookPayload
from ..redaction import Redactor
from ..settings import ExportSettings, RequestSettings, load_settings
from ..tokens import TokenKeeper
from .base import Exporter
from .context import HookContext
from .form import FormUrlencodedExporter
from .multipart import MultipartExporter
from .raw import RawBodyExporter
from .runtime import Runtime

log = logging.getLogger(__name__)

# The first exporter that handles a request's settings sends it.
EXPORTERS: tuple[type[Exporter], ...] = (
    MultipartExporter,
    FormUrlencodedExporter,
    RawBodyExporter,
)


def exporter_class_for(request: RequestSettings) -> type[Exporter]:
    for exporter_class in EXPORTERS:
        if exporter_class.handles(request):
            return exporter_class
    # The settings schema admits only requests some exporter handles.
    raise LookupError(f"no exporter sends a request configured as {request!r}")


def run_hook(payload: HookPayload, runtime: Runtime, redactor: Redactor) -> HookAnswer:
    """Run every export object of the settings, in order, stopping at the first failure.

    No message leaves with a secret value in it: ``redactor`` masks them all.
    """
    answer = run_exports(payload, runtime, redactor)
    answer.messages = [Message(m.type, redactor.text(m.content)) for m in answer.messages]
    return answer


def run_exports(payload: HookPayload, runtime: Runtime, redactor: Redactor) -> HookAnswer:
    answer = HookAnswer()
    try:
        exports = load_settings(payload.settings)
    except SettingsError as error:
        answer.messages.append(messages.error(error.describe()))
        return answer
    context = HookContext(payload, runtime.rossum_client(payload), redactor)
    auth_objects = {export.auth.canonical_json for export in exports if export.auth}
    if auth_objects:
        context.tokens = TokenKeeper(
            payload.hook_url,
            payload.secrets,
            several_auths=len(auth_objects) > 1,
            endpoint=runtime.token_endpoint(context.redactor),
            save_secrets=lambda secrets: context.rossum.replace_hook_secrets(
                payload.hook_url, secrets
            ),
        )
    exporters = [(export, exporter_class_for(export.request)) for export in exports]
    for export, exporter_class in exporters:
        require_document(payload, exporter_class(export, context, runtime), export)
    for export, exporter_class in exporters:
        label = f"{export.path}: " if export.path else ""
        try:
            outcome = exporter_class(export, context, runtime).export()
        except ExportError as error:
            log.info("%sexport failed at step %s: %s", label, error.step, error)
            answer.messages.append(messages.error(f"{label}Export failed ({error.step}): {error}"))
            break
        answer.messages.extend(
            messages.Message(m.type, label + m.content) for m in outcome.messages
        )
        answer.operations.extend(outcome.operations)
        if outcome.failed:
            break
    return answer


def require_document(payload: HookPayload, exporter: Exporter, export: ExportSettings) -> None:
    """The original file needs the payload's ``document`` (SPEC §3): checked before any export."""
    if payload.document is None and "original_file" in exporter.needed_files():
        path = f"{export.path}.request" if export.path else "request"
        raise PayloadError([Problem("document", f"is required: {path} uses #{{original_file}}")])
