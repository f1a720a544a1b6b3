"""The export pipeline: run the export objects of one hook call into one hook answer.

It never imports Flask, so it runs the same in a web worker, a background job or
the command line.
"""

import json
import logging
import time
from dataclasses import dataclass, field

from .. import messages, metrics
from ..errors import ExportError, PayloadError, Problem, SettingsError
from ..messages import HookAnswer, Message
from ..payload import HookPayload
from ..redaction import Redactor
from ..settings import ExportSettings, RequestSettings, load_settings_once
from ..tokens import TokenKeeper
from .base import Exporter
from .context import HookContext
from .form import FormUrlencodedExporter
from .multipart import MultipartExporter
from .preview import preview_requests
from .preview_warnings import refusals
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
    """Run every export object of the settings, in order, stopping at the first failure."""
    return run_prepared(prepare_hook(payload, runtime, redactor))


@dataclass
class PreparedHook:
    """A hook call with all it needs from Rossum fetched: it can be sent later, elsewhere."""

    payload: HookPayload
    redactor: Redactor
    context: HookContext | None = None
    exporters: list[Exporter] = field(default_factory=list)
    answer: HookAnswer | None = None  # already settled (invalid settings): nothing to send


def prepare_hook(payload: HookPayload, runtime: Runtime, redactor: Redactor) -> PreparedHook:
    """Check the settings and fetch the content and files every export will use.

    Rossum's payload token may expire once the call is answered, so this is done
    before an asynchronous answer. A fetch that fails is raised when its export runs.
    """
    try:
        exports = load_settings_once(payload.settings)
    except SettingsError as error:
        return PreparedHook(
            payload, redactor, answer=HookAnswer([messages.error(error.describe())])
        )
    context = hook_context(payload, runtime, redactor, exports)
    exporters = [exporter_class_for(export.request)(export, context, runtime) for export in exports]
    for exporter in exporters:
        require_document(payload, exporter, exporter.settings)
    for exporter in exporters:
        exporter.prefetch()
    return PreparedHook(payload, redactor, context, exporters)


def run_prepared(prepared: PreparedHook) -> HookAnswer:
    """Send the exports in order, stopping at the first failure; no message holds a secret."""
    answer = prepared.answer or HookAnswer()
    for index, exporter in enumerate(prepared.exporters):
        outcome = run_export(exporter, index)
        label = f"{exporter.settings.path}: " if exporter.settings.path else ""
        answer.messages.extend(Message(m.type, label + m.content) for m in outcome.messages)
        answer.operations.extend(outcome.operations)
        if outcome.failed:
            break
        prepared.context.take_values(outcome.operations)  # extracted ids for the next ones
    answer.mask(prepared.redactor.text)
    return answer


def hook_context(payload, runtime: Runtime, redactor: Redactor, exports) -> HookContext:
    """One hook call's shared data, with a token keeper when an export uses auth."""
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
    return context


def run_export(exporter: Exporter, index: int) -> HookAnswer:
    """One export object; its failure becomes an error message naming the step. Measured."""
    started = time.monotonic()
    try:
        outcome = exporter.export()
    except ExportError as error:
        outcome = HookAnswer([messages.error(error.describe())])
        exporter.summary["failed_step"] = error.step
    duration = time.monotonic() - started
    metrics.EXPORTS.labels(outcome.outcome_label()).inc()
    metrics.DURATION.observe(duration)
    if log.isEnabledFor(logging.INFO):  # the line is built only when it is emitted
        log.info(json.dumps(export_log_entry(exporter, index, duration, outcome)))
    return outcome


def export_log_entry(exporter: Exporter, index: int, duration: float, outcome) -> dict:
    """The export's log line (README "Logs")."""
    payload = exporter.context.payload
    return {
        "event": "export",
        "request_id": payload.request_id,
        "hook_id": payload.hook_url.rstrip("/").rsplit("/", 1)[-1],
        "annotation_id": payload.annotation_id,
        "export_index": index,
        "target": None,
        "status": None,
        "attempts": 0,
        **exporter.summary,
        "duration_ms": round(duration * 1000),
        "outcome": outcome.outcome_label(),
    }


def preview_hook(payload: HookPayload, runtime: Runtime, redactor: Redactor) -> list[dict]:
    """What each export object would send; nothing is sent, no token fetched, nothing stored.

    Invalid settings raise SettingsError; a step that fails is reported in its entry, and
    what the real export would refuse to send in its ``warnings``.
    """
    exports = load_settings_once(payload.settings)
    context = hook_context(payload, runtime, redactor, exports)
    previews = []
    for export in exports:
        exporter = exporter_class_for(export.request)(export, context, runtime)
        try:
            for entry in preview_requests(exporter):
                warnings = refusals(exporter, entry, runtime.config["ALLOW_PRIVATE_TARGETS"])
                previews.append({**entry, "warnings": warnings} if warnings else entry)
        except ExportError as error:
            previews.append(
                {
                    "path": export.path,
                    "exporter": type(exporter).__name__,
                    "error": redactor.text(f"{error.step}: {error}"),
                }
            )
        context.take_values(placeholder_operations(export, context))
    return previews


def placeholder_operations(export: ExportSettings, context: HookContext) -> list[dict]:
    """What a preview shows for values from earlier replies: their placeholders, unsent."""
    return [
        {
            "op": "replace",
            "id": datapoint["id"],
            "value": {"content": {"value": f"@{{{rule.target_schema_id}}}"}},
        }
        for rule in export.extract
        for datapoint in context.content.datapoints(rule.target_schema_id)
    ]


def require_document(payload: HookPayload, exporter: Exporter, export: ExportSettings) -> None:
    """The original file needs the payload's ``document`` (SPEC §3): checked before any export."""
    if payload.document is None and "original_file" in exporter.needed_files():
        path = f"{export.path}.request" if export.path else "request"
        raise PayloadError([Problem("document", f"is required: {path} uses #{{original_file}}")])
