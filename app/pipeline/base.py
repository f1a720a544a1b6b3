"""The Exporter: one export object's request, rendered, sent, and answered (SPEC §4, §5)."""

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .. import messages
from ..errors import ExportError, RossumAPIError
from ..http_rules import check_headers, check_url
from ..json_templating import OMIT, Scope, render_text_value, template_strings
from ..messages import HookAnswer, Message
from ..oauth import TokenRequest
from ..settings import ExportSettings, RequestSettings
from ..templating import TemplateValues, file_placeholders, render_text
from ..url_templating import render_url
from .context import FileBytes, HookContext
from .dedup import idempotency_key, varies_per_delivery, with_key
from .delivery import OutgoingRequest, Reply
from .extract import check_extract_targets, with_extracted_values
from .iteration import Row, iterate_rows, written_by_extract
from .receipts import already_exported, write_due
from .replies import handle_reply
from .transcript import Transcript, placeholders_in

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from .runtime import Runtime

FALSE_CONDITIONS = frozenset({"", "false"})
TOKEN_PLACEHOLDER = "{secret.access_token}"
KEY_PLACEHOLDER = "#{idempotency_key}"


@dataclass
class Body:
    """A request body as requests takes it, and how it affects the Content-Type header."""

    data: bytes | dict | None = None
    files: list | None = None
    content_type: str | None = None  # sent when the user set no Content-Type
    replaces_content_type: bool = False  # the user's Content-Type is dropped (multipart)
    identity: str | None = None  # stands for streamed files in the idempotency key


class Exporter(ABC):
    """Sends one export object's request and turns the reply into hook messages.

    :meth:`export` is the template method. A subclass says which requests it
    handles (:meth:`handles`), which templates make up its body
    (:meth:`body_templates`, so the files they need are fetched first) and how
    the body is built (:meth:`build_body`).
    """

    def __init__(self, settings: ExportSettings, context: HookContext, runtime: "Runtime"):
        self.settings = settings
        self.request = settings.request
        self.context = context
        self.runtime = runtime
        self.delivery = runtime.delivery()
        self.access_token: str | None = None
        self.prefetch_error: ExportError | None = None
        self.transcript = Transcript(context.redactor, bool(settings.transcript_reference_key))
        self.summary: dict = {"exporter": type(self).__name__}  # for the export's log line
        self.row: Row | None = None  # with iterate_over: the row being sent

    @classmethod
    @abstractmethod
    def handles(cls, request: RequestSettings) -> bool:
        """Whether this exporter sends requests configured like ``request``."""

    @abstractmethod
    def body_templates(self) -> list[str]:
        """The templates rendered into the body."""

    @abstractmethod
    def build_body(self, values: TemplateValues) -> Body:
        """The request body, rendered with ``values``."""

    def prefetch(self) -> None:
        """Fetch now what this export will need from Rossum; a failure is kept for export()."""
        try:
            if self.condition_holds():
                for name in self.needed_files():
                    self.file(name).fetch()
        except ExportError as error:
            self.prefetch_error = error

    def export(self) -> HookAnswer:
        """Run the export; an ExportError says which step failed. Keeps a transcript."""
        try:
            if self.prefetch_error:
                raise self.prefetch_error
            outcome = self.run_steps()
        except ExportError as failure:
            self.transcript.note("failure", f"{failure.step}: {failure}")
            self.transcript.attempts(getattr(failure, "attempt_outcomes", []))
            self.store_transcript()
            self.write_receipts()  # when delivered before the failure
            raise
        except Exception:  # an unusable state store (503) or a bug: rows delivered keep theirs
            self.write_receipts()
            raise
        problem = self.store_transcript()
        if problem:
            outcome.messages.append(problem)
        outcome.messages.extend(self.write_receipts())
        return outcome

    def run_steps(self) -> HookAnswer:
        # 1. A condition that renders empty or false skips the export: nothing is fetched or sent.
        if not self.condition_holds():
            return HookAnswer(
                [messages.info("Export skipped: its condition is empty or false.")],
                outcome="skipped",
            )
        # 2. With auth, an access token: the stored one while fresh, else a new one.
        if self.settings.auth:
            self.access_token = self.context.tokens.token(
                self.settings.auth, self.render_token_request
            )
            self.transcript.note("token", self.context.tokens.last_source)
        # 3. With iterate_over, steps 4 and 5 once per row, each row its own scope.
        if self.settings.iterate_over:
            return iterate_rows(self)
        return self.deliver()

    def deliver(self) -> HookAnswer:
        # 4. Fetch the files the templates need and render the whole request; check the
        #    extract targets too, since a mistake found after sending fails a delivered export.
        request = self.build_request()
        check_extract_targets(self.settings.extract, self.target_content())
        # 5. Send it, once: a repeat of a delivered export is answered from its receipt in
        #    the annotation's metadata, else from the state store's memory.
        if not self.settings.deduplicate:
            return self.send(request)
        if repeat := already_exported(self.context.payload.annotation, request.idempotency_key):
            # whatever the state store remembers (it may have been wiped); it gives the
            # values of earlier replies while it remembers them
            remembered = self.runtime.state_store.get(request.idempotency_key)
            extract, content = self.settings.extract, self.target_content()
            return with_extracted_values(extract, content, repeat, remembered)
        return self.runtime.duplicate_guard().run(request, self.resend_allowed(), self.send)

    def send(self, request: OutgoingRequest) -> HookAnswer:
        """Send (retrying as the mode says); then the reply's messages, stored copies, values."""
        policy = self.runtime.retry_policy(self.settings.mode, self.resend_allowed())
        reply = self.send_once(request, policy)
        if self.token_refused(reply.status_code):
            # A refused token is renewed once and the request rendered and sent again.
            self.access_token = self.context.tokens.renew(
                self.settings.auth, self.render_token_request, refused=self.access_token
            )
            self.transcript.note(
                "token", f"refused with {reply.status_code}; {self.context.tokens.last_source}"
            )
            request = self.build_request()
            reply = self.send_once(request, policy)
        outcome = handle_reply(self.settings, self.context, request, reply, self.target_content())
        outcome.mask(self.context.redactor.text)  # before the state store keeps it
        return outcome

    def send_once(self, request: OutgoingRequest, policy) -> Reply:
        self.transcript.request(request)
        self.summary["target"] = request.host
        reply = self.delivery.send(request, policy)
        self.transcript.attempts(reply.attempt_outcomes)
        self.transcript.reply(reply)
        self.summary.update(status=reply.status_code, attempts=reply.attempts)
        return reply

    def store_transcript(self):
        """Store the transcript when asked to; a warning message if that failed."""
        key = self.settings.transcript_reference_key
        if not key:
            return None
        self.transcript.note("placeholders", placeholders_in(self.request_templates()))
        try:
            self.context.store_documents(
                {key: (f"{key}.json", self.transcript.to_bytes(), "application/json")}
            )
        except RossumAPIError as failure:
            log.warning("could not store the transcript %r: %s", key, failure)
            return messages.warning(f"The transcript could not be stored in Rossum: {failure}")
        return None

    def write_receipts(self) -> list[Message]:
        """Receipts of delivered exports not yet in Rossum, in a PATCH of their own."""
        context = self.context
        return write_due(context.receipts, context.rossum, context.payload.annotation["url"])

    def resend_allowed(self) -> bool:
        """An unknown outcome may be sent again: the target de-duplicates, or we do not."""
        return not self.settings.deduplicate or any(
            KEY_PLACEHOLDER in template for template in self.request_templates()
        )

    def condition_holds(self) -> bool:
        if self.settings.condition is None:
            return True
        rendered = render_text(
            self.settings.condition,
            self.context.template_values(),
            "condition",
            missing_datapoint_is_empty=True,
        )
        return rendered.strip().lower() not in FALSE_CONDITIONS

    def request_templates(self) -> list[str]:
        """Every string template of the request (operators' strings included)."""
        templates = [self.request.url, *self.request.headers.values(), *self.body_templates()]
        return [text for template in templates for text in template_strings(template)]

    def scope(self) -> Scope:
        """Where ``@{...}`` and the operators look datapoints up: the row first, if any."""
        if self.row is not None:
            return self.row.scope
        return Scope(self.context.content)

    def target_content(self):
        """Where extract writes: the row's datapoints (iterate_over), else the annotation's."""
        return self.row.content if self.row is not None else self.context.content

    def render_fields(self, templates: dict, values: TemplateValues, key: str) -> dict[str, str]:
        """Headers or form fields: templates and operators rendered; left-out keys dropped."""
        scope = self.scope()
        rendered = {
            name: render_text_value(template, values, scope, self.where(f"{key}.{name}"))
            for name, template in templates.items()
        }
        return {name: value for name, value in rendered.items() if value is not OMIT}

    def needed_files(self) -> set[str]:
        """Names of the file placeholders this export's templates use."""
        return set().union(*(file_placeholders(t) for t in self.request_templates()))

    def file(self, name: str):
        """The stored file behind a file placeholder of this export."""
        return self.context.file(name, self.settings.export_reference_key)

    def build_request(self) -> OutgoingRequest:
        files = FileBytes({name: self.file(name) for name in sorted(self.needed_files())})
        values = self.template_values(files)
        url = render_url(self.request.url, values, self.where("url"))
        check_url(url, self.request.url, self.where("url"))
        body = self.build_body(values)
        headers = self.render_headers(values, self.access_token, body)
        check_headers(headers, self.where("headers"))
        self.context.redactor.add_sensitive_headers(headers)
        self.context.redactor.add_url_credentials(url)
        request = OutgoingRequest(
            method=self.request.method,
            url=url,
            headers=headers,
            data=body.data,
            files=body.files,
            body_identity=body.identity,
        )
        payload = self.context.payload
        scope = (payload.hook_url, payload.annotation_id, self.settings.path)
        if self.row is not None:  # each row is an export of its own
            scope += self.row.identity(written_by_extract(self.settings))
        return with_key(request, idempotency_key(scope, self.key_request(request, files, body)))

    def template_values(self, files: FileBytes, stable: bool = False) -> TemplateValues:
        """What placeholders render to; with iterate_over, the row's own datapoints first."""
        values = self.context.template_values(files, self.access_token, stable=stable)
        if self.row is not None:
            values = replace(values, datapoint=self.row.scope.value)
        return values

    def render_headers(self, values: TemplateValues, token: str | None, body: Body) -> dict:
        headers = self.render_fields(self.request.headers, values, "headers")
        if token is not None and not self.places_token_itself():
            headers["Authorization"] = f"Bearer {token}"
        return self.headers_for(body, headers)

    def key_request(self, request: OutgoingRequest, files: FileBytes, body: Body):
        """The request as its idempotency key sees it: rendered again with the values that
        differ per delivery (request id, tokens) held fixed, where the templates use them."""
        stable = self.template_values(files, stable=True)
        token = stable.secrets.get("access_token") if self.access_token is not None else None
        key_request = replace(request, headers=self.render_headers(stable, token, body))
        if varies_per_delivery([self.request.url]):
            key_request.url = render_text(self.request.url, stable, self.where("url"))
        if varies_per_delivery(self.body_templates()):
            stable_body = self.build_body(stable)
            key_request.data, key_request.files = stable_body.data, stable_body.files
        return key_request

    def headers_for(self, body: Body, headers: dict) -> dict:
        """The user's headers, with the Content-Type the body needs."""
        user_content_type = next((n for n in headers if n.lower() == "content-type"), None)
        if user_content_type and body.replaces_content_type:
            headers = {n: v for n, v in headers.items() if n != user_content_type}
        elif body.content_type and not user_content_type:
            headers = {**headers, "Content-Type": body.content_type}
        return headers

    def places_token_itself(self) -> bool:
        """An Authorization header, or ``{secret.access_token}`` anywhere in the request."""
        return any(name.lower() == "authorization" for name in self.request.headers) or any(
            TOKEN_PLACEHOLDER in template for template in self.request_templates()
        )

    def token_refused(self, status_code: int) -> bool:
        auth = self.settings.auth
        return auth is not None and (status_code == 401 or status_code in auth.refresh_status_codes)

    def render_token_request(self) -> TokenRequest:
        auth = self.settings.auth
        values = self.context.template_values()
        url = render_url(auth.url, values, "auth.url")
        check_url(url, auth.url, "auth.url")
        headers = {n: render_text(v, values, f"auth.headers.{n}") for n, v in auth.headers.items()}
        check_headers(headers, "auth.headers")
        return TokenRequest(
            url=url,
            method=auth.method,
            headers=headers,
            data={n: render_text(v, values, f"auth.data.{n}") for n, v in auth.data.items()},
            token_path=auth.token_path,
            client_auth=auth.client_auth,
        )

    def where(self, key: str) -> str:
        """A request key's path, for messages."""
        return f"request.{key}"
