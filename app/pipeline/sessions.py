"""HTTP sessions that read the proxy environment once, not on every call, and keep no cookies.

With ``trust_env`` on, requests looks up the proxy variables and ``~/.netrc`` on every
call (and ``~/.netrc`` credentials must never reach a target anyway). So sessions run
with ``trust_env`` off; when the environment configures a proxy, it is read once, when
the runtime is built, and each origin's route (through the proxy, or direct as
``NO_PROXY`` says) is decided once and remembered.

Sessions live long and serve every hook: a cookie one customer's API sets must never
go out with another customer's request to the same host, so no session keeps any.
"""

from dataclasses import dataclass
from functools import lru_cache
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urlsplit
from urllib.request import getproxies

import requests
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
        return without_ambient_state(ProxiedSession(self) if self.proxies else requests.Session())

    def proxies_for(self, url: str) -> dict:
        """What requests' ``proxies`` argument is for ``url``: empty when it goes direct."""
        parts = urlsplit(url)
        return _route(self, parts.scheme, parts.netloc)


@lru_cache(maxsize=ROUTES_REMEMBERED)
def _route(environment: ProxyEnvironment, scheme: str, netloc: str) -> dict:
    if should_bypass_proxies(f"{scheme}://{netloc}/", no_proxy=environment.no_proxy):
        return {}
    return dict(environment.proxies)


class ProxiedSession(requests.Session):
    """Passes each call the proxies the environment gives its origin."""

    def __init__(self, environment: ProxyEnvironment):
        super().__init__()
        self.environment = environment

    def request(self, method, url, *args, **kwargs):
        if kwargs.get("proxies") is None:
            kwargs["proxies"] = self.environment.proxies_for(url)
        return super().request(method, url, *args, **kwargs)
