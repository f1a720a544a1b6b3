"""The service's exception tree.

Library exceptions are translated into these at the boundary where they happen
(``raise ... from e``); the pipeline turns an :class:`ExportError` into a hook
message in one place (:func:`app.pipeline.run_hook`), the web layer turns a
:class:`PayloadError` into a ``400``. No text here ever carries a secret value.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (a JSON path) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ServiceError(Exception):
    """Base of every error the service raises on purpose."""


class InputError(ServiceError):
    """An input (hook payload or settings) is unusable; carries every problem found."""

    summary = "invalid input"

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(self.describe())

    def describe(self) -> str:
        return f"{self.summary}: " + "; ".join(str(problem) for problem in self.problems)


class PayloadError(InputError):
    """The hook call is not a usable Rossum hook payload (answered with ``400``)."""

    summary = "Invalid hook payload"


class SettingsError(InputError):
    """The hook's settings are invalid (answered with an ``error`` message)."""

    summary = "Invalid extension settings"


class RefusedCall(ServiceError):
    """A hook call refused before anything is parsed or called; ``status`` is the answer's."""

    status = 403


class SignatureError(RefusedCall):
    """The call is not signed with HOOK_SECRET (answered ``401``)."""

    status = 401


class ForbiddenHostError(RefusedCall):
    """The payload points at a Rossum host that is not allowed (answered ``403``)."""

    status = 403


class ExportError(ServiceError):
    """One export object failed; ``step`` says where, the text says why."""

    step = "export"

    def describe(self) -> str:
        """The failure as the hook message words it."""
        return f"Export failed ({self.step}): {self}"


class TemplateError(ExportError):
    """A placeholder could not be rendered (missing datapoint, secret, unknown name)."""

    step = "template"


class RossumAPIError(ExportError):
    """A call to the Rossum API failed."""

    step = "Rossum API"


class AuthError(ExportError):
    """No access token could be had from the token endpoint."""

    step = "token"


class TargetError(ExportError):
    """The export request to the customer's API could not be completed.

    ``unknown_outcome``: the request went out and no answer came back, so the target
    may hold the export.
    """

    step = "target"

    def __init__(self, message: str, unknown_outcome=False, attempt_outcomes=()):
        super().__init__(message)
        self.unknown_outcome = unknown_outcome
        self.attempt_outcomes = list(attempt_outcomes)
