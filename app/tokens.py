"""Access tokens kept in the hook's secrets (SPEC §6): reuse, expiry, renewal, saving."""

import hashlib
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone

from .oauth import AccessToken, TokenEndpoint, TokenRequest
from .settings import AuthSettings

log = logging.getLogger(__name__)


def auth_fingerprint(auth: AuthSettings) -> str:
    """First 12 hex digits of the SHA-256 of the unrendered auth object as canonical JSON."""
    return hashlib.sha256(auth.canonical_json.encode()).hexdigest()[:12]


def token_secret_name(auth: AuthSettings, several_auths: bool) -> str:
    return f"access_token_{auth_fingerprint(auth)}" if several_auths else "access_token"


def parse_expiry(text: str) -> datetime:
    """An ISO 8601 time as aware UTC; one that cannot be parsed counts as long expired."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return datetime(1970, 1, 1, tzinfo=timezone.utc)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def stored_token(secrets: dict, name: str) -> AccessToken | None:
    value = secrets.get(name)
    if not value:
        return None
    expires_at = secrets.get(f"{name}_expires_at")
    return AccessToken(value, None if expires_at is None else parse_expiry(expires_at))


# One token request at a time per hook and auth object within a process, and the
# newest token each has: parallel exports of one hook share a renewal.
_token_locks: dict[tuple, threading.Lock] = {}
_token_locks_guard = threading.Lock()
_newest_tokens: dict[tuple, AccessToken] = {}


def token_lock(key: tuple) -> threading.Lock:
    with _token_locks_guard:
        return _token_locks.setdefault(key, threading.Lock())


class TokenKeeper:
    """The access tokens of one hook call: reused from the secrets, renewed, saved back."""

    def __init__(
        self,
        hook_url: str,
        secrets: dict,
        several_auths: bool,
        endpoint: TokenEndpoint,
        save_secrets: Callable[[dict], None],
    ):
        self.hook_url = hook_url
        self.secrets = dict(secrets)
        self.several_auths = several_auths
        self.endpoint = endpoint
        self.save_secrets = save_secrets
        self.last_source = ""  # how the last token was had, for the transcript

    def token(self, auth: AuthSettings, render: Callable[[], TokenRequest]) -> str:
        """A fresh token for ``auth``: the stored one, or a new one from the endpoint."""
        name = token_secret_name(auth, self.several_auths)
        key = (self.hook_url, name, auth_fingerprint(auth))
        newest = _newest_tokens.get(key)
        for source, candidate in (
            ("recently fetched", newest),
            ("stored in the hook's secrets", stored_token(self.secrets, name)),
        ):
            if candidate and candidate.is_fresh(datetime.now(timezone.utc)):
                self.endpoint.redactor.add(candidate.value)
                self.last_source = f"reused the token {source}"
                return candidate.value
        return self.renew(auth, render, refused=None)

    def renew(self, auth: AuthSettings, render: Callable[[], TokenRequest], refused: str | None):
        """A new token, unless another export already replaced the refused one meanwhile."""
        name = token_secret_name(auth, self.several_auths)
        key = (self.hook_url, name, auth_fingerprint(auth))
        with token_lock(key):
            newest = _newest_tokens.get(key)
            if newest and newest.value != refused and newest.is_fresh(datetime.now(timezone.utc)):
                self.last_source = "reused a token another export fetched just now"
                return newest.value
            request = render()
            token = self.endpoint.fetch(request)
            log.info("obtained a new access token from %s", request.host)
            self.last_source = f"requested a new token from {request.host}"
            self.secrets[name] = token.value
            if token.expires_at is None:
                self.secrets.pop(f"{name}_expires_at", None)
            else:
                self.secrets[f"{name}_expires_at"] = token.expires_at.isoformat()
            self.save_secrets(dict(self.secrets))
            _newest_tokens[key] = token
            return token.value
