"""HTTP sessions that read the proxy environment once, not on every call, and keep no cookies.

With ``trust_env`` on, requests looks up the proxy variables and ``~/.netrc`` on every
call (and ``~/.netrc`` credentials must never reach a target anyway). So sessions run
with ``trust_env`` off; when the environment configures a proxy, it is read once, when
the runtime is built, and each origin's route (through the proxy, or direct as
``NO_PROXY`` says) is decided once and remembered.

Sessions live long and serve every hook: a cookie one customer's API sets must never
go out with another customer's request to the same host, so no session keeps any —
and, having no cookies to merge, each call is prepared without the cookie-jar copies
requests makes for every request (about a tenth of a call's CPU on a fast API).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urlencode, urlsplit
from urllib.request import getproxies

import requests
from requests.structures import CaseInsensitiveDict
from requests.utils import should_bypass_proxies

ROUTES_REMEMBERED = 1024  # origins whose NO_PROXY decision is kept


def without_ambient_state(session: requests.Session) -> requests.Session:
    """``session`` without per-call environment look-ups (no ``~/.netrc``), refusing cookies."""
    session.trust_env = False
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return session


@dataclass(frozen=True)
class ProxyEnvironment:
    """``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` (any case) and ``NO_PROXY``, as read once."""

    proxies: tuple[tuple[str, str], ...] = ()  # (scheme or "all", proxy URL)
    no_proxy: str | None = None

    @classmethod
    def read(cls) -> "ProxyEnvironment":
        found = getproxies()  # urllib's reading, the one requests uses
        no_proxy = found.pop("no", None)  # NO_PROXY alone configures no proxy
        return cls(tuple(sorted(found.items())), no_proxy)

    without_ambient_state = staticmethod(without_ambient_state)  # for sessions made elsewhere

    def session(self) -> requests.Session:
        """A session without per-call environment look-ups, routed through the proxies."""
        return without_ambient_state(ProxiedSession(self) if self.proxies else CookielessSession())

    def proxies_for(self, url: str) -> dict:
        """What requests' ``proxies`` argument is for ``url``: empty when it goes direct."""
        parts = urlsplit(url)
        return _route(self, parts.scheme, parts.netloc)


@lru_cache(maxsize=ROUTES_REMEMBERED)
def _route(environment: ProxyEnvironment, scheme: str, netloc: str) -> dict:
    if should_bypass_proxies(f"{scheme}://{netloc}/", no_proxy=environment.no_proxy):
        return {}
    return dict(environment.proxies)


class CookielessSession(requests.Session):
    """A session whose calls carry no cookies: prepared without merging cookie jars.

    Settings merge with the session's as requests merges them (the call's own value wins,
    ``None`` drops a header), without requests' generic merge: on Python 3.11 its checks
    against typing Protocols cost more than the rest of preparing a call. A call that
    passes ``cookies`` or ``auth`` (none of ours does) is prepared as requests does it.
    """

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        if request.cookies or request.auth or self.auth or self.trust_env:
            return super().prepare_request(request)
        prepared = requests.PreparedRequest()
        prepared.prepare(
            method=request.method.upper(),
            url=request.url,
            files=request.files,
            data=request.data,
            json=request.json,
            headers=merged(request.headers, self.headers, CaseInsensitiveDict),
            params=encoded_params(merged(request.params, self.params)),
            hooks=merged_hooks(request.hooks, self.hooks),
        )
        return prepared

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        return {
            "proxies": merged(proxies, self.proxies),
            "stream": self.stream if stream is None else stream,
            "verify": self.verify if verify is None else verify,
            "cert": self.cert if cert is None else cert,
        }


def merged(own, session, dict_class=dict):
    """requests' ``merge_setting`` for mappings: the session's, updated with the call's own
    values; a ``None`` value removes the key."""
    if own is None:
        return session
    if session is None or not (isinstance(session, Mapping) and isinstance(own, Mapping)):
        return own
    result = dict_class(session.items())
    result.update(own.items())
    for name in [name for name, value in own.items() if value is None]:
        del result[name]
    return result


def merged_hooks(own, session):
    """requests' ``merge_hooks``: the call's hooks replace the session's, event by event."""
    if session is None or session.get("response") == []:
        return own
    if own is None or own.get("response") == []:
        return session
    return merged(own, session)


def encoded_params(params):
    """Query parameters encoded as requests encodes them, into the string it then takes as
    it is (without requests' typing-Protocol check for a file-like object)."""
    if params is None or isinstance(params, (str, bytes)) or hasattr(params, "read"):
        return params
    if isinstance(params, Mapping):
        pairs = list(params.items())
    elif isinstance(params, (list, tuple)):
        pairs = list(params)
    else:
        return params
    encoded = []
    for name, values in pairs:
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            values = [values]
        for value in values:
            if value is not None:
                encoded.append(
                    (
                        name.encode("utf-8") if isinstance(name, str) else name,
                        value.encode("utf-8") if isinstance(value, str) else value,
                    )
                )
    return urlencode(encoded, doseq=True)


class ProxiedSession(CookielessSession):
    """Passes each call the proxies the environment gives its origin."""

    def __init__(self, environment: ProxyEnvironment):
        super().__init__()
        self.environment = environment

    def request(self, method, url, *args, **kwargs):
        if kwargs.get("proxies") is None:
            kwargs["proxies"] = self.environment.proxies_for(url)
        return super().request(method, url, *args, **kwargs)
