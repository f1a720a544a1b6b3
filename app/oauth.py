"""OAuth2 access tokens (SPEC §6): fetched with requests-oauthlib, kept in the hook's secrets.

``grant_type=client_credentials`` goes through ``BackendApplicationClient``,
``grant_type=password`` (or ``username`` + ``password`` without a grant type)
through ``LegacyApplicationClient``; any other grant type is posted as given.
Every field of ``auth.data`` is sent in the body as configured — except, with
``client_auth: "basic"``, the client credentials, which go in an HTTP Basic header
(RFC 6749 §2.3.1). Provider quirks (a JSON body, a token under ``token_path``) are
compliance hooks on the session.
"""

import base64
import contextvars
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import reduce
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import requests
from oauthlib.oauth2 import (
    BackendApplicationClient,
    LegacyApplicationClient,
    OAuth2Error,
)
from oauthlib.oauth2 import is_secure_transport as oauthlib_is_secure_transport
from requests_oauthlib import OAuth2Session, oauth2_session

from . import metrics
from .deadlines import answer_deadline
from .errors import AuthError
from .http_failures import describe_token_failure
from .redaction import Redactor
from .security import harden

if TYPE_CHECKING:
    from .pipeline.sessions import ProxyEnvironment

log = logging.getLogger(__name__)

RENEW_BEFORE_EXPIRY = timedelta(minutes=1)

# Both libraries log token request bodies and tokens at DEBUG: never let them, whatever
# the service's log level.
for _chatty in ("requests_oauthlib", "oauthlib"):
    logging.getLogger(_chatty).setLevel(logging.WARNING)

QUOTED_ERROR_LIMIT = 300
CLIENT_CREDENTIALS = ("client_id", "client_secret")

# requests-oauthlib refuses plain-http token URLs unless OAUTHLIB_INSECURE_TRANSPORT is
# set for the whole process. We allow exactly the configured http URL, only within the
# fetch that uses it; every other check keeps oauthlib's rule.
_allowed_http_token_url: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "allowed_http_token_url", default=None
)


def _secure_or_allowed(uri: str) -> bool:
    return uri == _allowed_http_token_url.get() or oauthlib_is_secure_transport(uri)


oauth2_session.is_secure_transport = _secure_or_allowed


@dataclass(frozen=True)
class AccessToken:
    value: str
    expires_at: datetime | None  # None: the endpoint gave no lifetime; valid until refused

    def is_fresh(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at - RENEW_BEFORE_EXPIRY > now


@dataclass(frozen=True)
class TokenRequest:
    """A rendered token request."""

    url: str
    method: str
    headers: dict
    data: dict
    token_path: str | None
    client_auth: str = "body"  # or "basic": client_id/client_secret as HTTP Basic

    @property
    def body_fields(self) -> dict:
        """What the body carries: every auth.data field, less what HTTP Basic carries."""
        if self.client_auth != "basic":
            return dict(self.data)
        return {n: v for n, v in self.data.items() if n not in CLIENT_CREDENTIALS}

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    @property
    def sends_json(self) -> bool:
        content_type = next((v for n, v in self.headers.items() if n.lower() == "content-type"), "")
        return "json" in content_type.lower()


class TokenEndpoint:
    """Asks a token endpoint for an access token."""

    def __init__(
        self,
        connect_timeout: float,
        read_timeout: float,
        redactor: Redactor,
        proxy_environment: "ProxyEnvironment",
        allow_private_targets: bool = False,
    ):
        self.timeout = (connect_timeout, read_timeout)
        self.redactor = redactor
        self.proxy_environment = proxy_environment  # read once, as for every other session
        self.allow_private_targets = allow_private_targets

    def session(self, session: requests.Session) -> requests.Session:
        """``session`` hardened, without environment look-ups (no ``~/.netrc``) or cookies."""
        return harden(
            self.proxy_environment.without_ambient_state(session), self.allow_private_targets
        )

    def fetch(self, request: TokenRequest) -> AccessToken:
        """A new token from the endpoint; counted by outcome."""
        try:
            token = self.request_token(request)
        except AuthError:
            metrics.TOKEN_REQUESTS.labels("error").inc()
            raise
        metrics.TOKEN_REQUESTS.labels("success").inc()
        return token

    def request_token(self, request: TokenRequest) -> AccessToken:
        # Credentials are masked even when written literally; scope, grant_type etc. are not.
        self.redactor.add_credentials(request.data)
        self.redactor.add_sensitive_headers(request.headers)
        allowed = _allowed_http_token_url.set(
            request.url if request.url.lower().startswith("http://") else None
        )
        if request.client_auth == "basic":
            # The header's forms of the secret are masked too, should an echo quote them.
            basic = ClientBasicAuth.of(request.data)
            self.redactor.add(form_encoded(basic.client_secret))
            self.redactor.add(basic.header_value().partition(" ")[2])
        try:
            with answer_deadline(self.timeout[1]) as deadline:  # the whole answer (SPEC §11)
                reply = self.send(request)
        except requests.RequestException as exc:
            failure = requests.ReadTimeout() if deadline.expired else exc
            raise AuthError(
                f"the token request to {request.host} failed: {describe_token_failure(failure)}"
            ) from None
        except ValueError as exc:  # requests-oauthlib: the password grant lacks a field
            raise AuthError(f"the token request cannot be made: {exc}") from None
        except OAuth2Error as exc:
            raise AuthError(
                f"the token endpoint {request.host} answered without a usable token "
                f"({self.redactor.text(exc.error or type(exc).__name__)})"
            ) from None
        finally:
            _allowed_http_token_url.reset(allowed)
        return self.access_token(request, reply)

    def send(self, request: TokenRequest) -> dict:
        """The token reply in the OAuth2 shape, through requests-oauthlib where the grant fits."""
        data = dict(request.data)
        grant_type = data.get("grant_type")
        basic = ClientBasicAuth.of(data) if request.client_auth == "basic" else None
        if grant_type == "client_credentials":
            client = BackendApplicationClient(client_id=data.get("client_id"))
        elif grant_type == "password" or (
            grant_type is None and "username" in data and "password" in data
        ):
            client = LegacyApplicationClient(client_id=data.get("client_id"))
        else:
            with self.session(requests.Session()) as session:
                response = session.request(
                    request.method,
                    request.url,
                    headers=request.headers,
                    auth=basic,
                    timeout=self.timeout,
                    proxies=self.proxy_environment.proxies_for(request.url),
                    **body_arguments(request, request.body_fields),
                )
            return self.oauth2_shaped(request, response)
        session = self.session(OAuth2Session(client=client))
        session.register_compliance_hook(
            "access_token_request",
            lambda url, headers, kwargs: self.as_configured(request, url, headers, kwargs),
        )
        session.register_compliance_hook(
            "access_token_response", lambda response: self.normalised(request, response)
        )
        extra = {k: v for k, v in data.items() if k not in ("grant_type", "client_id")}
        if basic:  # the header carries the credentials; the body leaves them out
            extra.pop("client_secret", None)
        with session:
            return session.fetch_token(
                request.url,
                method=request.method,
                headers={"Accept": "application/json", **request.headers},
                # Without auth= requests-oauthlib would build its own Basic header, one
                # that skips RFC 6749's form-encoding of the id and secret.
                include_client_id=basic is None,
                auth=basic,
                timeout=self.timeout,
                proxies=self.proxy_environment.proxies_for(request.url),
                username=extra.pop("username", None),
                password=extra.pop("password", None),
                client_secret=extra.pop("client_secret", None),
                **extra,
            )

    @staticmethod
    def as_configured(request: TokenRequest, url, headers, kwargs):
        """Compliance hook: every auth.data field sent as written, as JSON when configured."""
        placement = "params" if "params" in kwargs else "data"
        fields = {**kwargs.get(placement, {}), **request.body_fields}
        if placement == "data" and request.sends_json:
            return url, headers, {"json": fields}
        return url, headers, {placement: fields}

    def normalised(self, request: TokenRequest, response: requests.Response):
        """Compliance hook: a reply checked and reshaped into OAuth2's token shape."""
        token = self.oauth2_shaped(request, response)
        response._content = json.dumps(token).encode()
        response.encoding = "utf-8"
        return response

    def oauth2_shaped(self, request: TokenRequest, response: requests.Response) -> dict:
        if not response.ok:
            raise AuthError(
                f"the token endpoint {request.host} answered {response.status_code}"
                f"{self.quote_error(response)}"
            )
        try:
            reply = response.json()
        except ValueError:
            raise AuthError(
                f"the token endpoint {request.host} answered {response.status_code} "
                "without a JSON body"
            ) from None
        if not isinstance(reply, dict):
            raise AuthError(f"the token endpoint {request.host} did not answer a JSON object")
        token = dig(reply, request.token_path) if request.token_path else reply.get("access_token")
        if not isinstance(token, str) or not token:
            where = f"at {request.token_path!r}" if request.token_path else "access_token"
            raise AuthError(f"the token endpoint {request.host} answered without {where}")
        self.redactor.add(token)
        for other_token in ("refresh_token", "id_token"):
            self.redactor.add(reply.get(other_token))
        shaped = {"access_token": token, "token_type": reply.get("token_type", "Bearer")}
        if isinstance(reply.get("expires_in"), (int, float, str)):
            shaped["expires_in"] = reply["expires_in"]
        return shaped

    def quote_error(self, response: requests.Response) -> str:
        """The reply's OAuth2 error fields (or its text head), with credentials masked."""
        try:
            reply = response.json()
        except ValueError:
            reply = None
        if isinstance(reply, dict) and ("error" in reply or "error_description" in reply):
            text = ": ".join(
                str(reply[key]) for key in ("error", "error_description") if reply.get(key)
            )
        else:
            text = response.text.strip()
        text = self.redactor.text(text)[:QUOTED_ERROR_LIMIT]
        return f": {text}" if text else ""

    @staticmethod
    def access_token(request: TokenRequest, reply: dict) -> AccessToken:
        try:
            lifetime = float(reply["expires_in"]) if "expires_in" in reply else None
        except (TypeError, ValueError):
            lifetime = None
        expires_at = datetime.now(timezone.utc) + timedelta(seconds=lifetime) if lifetime else None
        return AccessToken(reply["access_token"], expires_at)


def form_encoded(value: str) -> str:
    """RFC 6749 Appendix B's application/x-www-form-urlencoded encoding of one value.

    A space is written ``%20``, not ``+``: both decode to a space under the form
    rule, and ``%20`` also survives servers that percent-decode only (Authlib).
    """
    return quote(value, safe="")


@dataclass(frozen=True)
class ClientBasicAuth(requests.auth.AuthBase):
    """The client's credentials as HTTP Basic, each form-encoded first (RFC 6749 §2.3.1)."""

    client_id: str
    client_secret: str

    @classmethod
    def of(cls, data: dict) -> "ClientBasicAuth":
        return cls(data.get("client_id", ""), data.get("client_secret", ""))

    def header_value(self) -> str:
        pair = f"{form_encoded(self.client_id)}:{form_encoded(self.client_secret)}"
        return "Basic " + base64.b64encode(pair.encode()).decode("ascii")

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self.header_value()
        return request

    def __repr__(self) -> str:  # never the secret, should anything print the object
        return f"ClientBasicAuth(client_id={self.client_id!r})"


def body_arguments(request: TokenRequest, data: dict) -> dict:
    if request.method == "GET":
        return {"params": data}
    return {"json": data} if request.sends_json else {"data": data}


def dig(document: dict, dotted_path: str):
    """``data.token`` -> document["data"]["token"], or None."""
    return reduce(
        lambda node, key: node.get(key) if isinstance(node, dict) else None,
        dotted_path.split("."),
        document,
    )
