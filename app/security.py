"""Who may call the service and where it may send (SPEC §7).

Signed hook calls, Rossum hosts from an allow list, and export/token requests only to
public addresses (checked on the resolved IP of every hop by requests-hardened, which
also connects to the address it checked), redirected only within their own origin.
"""

import hashlib
import hmac
from collections.abc import Mapping
from fnmatch import fnmatchcase
from urllib.parse import urljoin, urlsplit

import requests
from requests_hardened.ip_filter_adapter import IPFilterAdapter

from .errors import ForbiddenHostError, SignatureError
from .payload import HookPayload

MAX_REDIRECTS = 5
SIGNATURE_HEADERS = (
    ("X-Rossum-Signature-SHA256", "sha256", hashlib.sha256),
    ("X-Elis-Signature", "sha1", hashlib.sha1),  # legacy
)


def verify_signature(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """Require an HMAC of the raw body made with ``secret`` (no-op when no secret is set)."""
    if not secret:
        return
    for header, algorithm, digest in SIGNATURE_HEADERS:
        value = headers.get(header)
        if value is None:
            continue
        prefix, _, signature = value.partition("=")
        expected = hmac.new(secret.encode(), body, digest).hexdigest()
        if prefix.strip().lower() == algorithm and hmac.compare_digest(
            signature.strip().lower().encode(), expected.encode()
        ):
            return
        raise SignatureError(f"the {header} signature does not match the body")
    raise SignatureError(
        "the call is not signed: X-Rossum-Signature-SHA256 is required (the hook's secret "
        "must match HOOK_SECRET)"
    )


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or ""), port


def rossum_host_allowed(base_url: str, patterns: str) -> bool:
    """``https`` on a host matching a pattern, or exactly an ``http://host:port`` pattern."""
    try:
        parts = urlsplit(base_url)
        scheme, host, port = origin(base_url)
    except ValueError:
        return False
    if not host or parts.username is not None or parts.password is not None:
        return False
    for pattern in filter(None, (p.strip().lower() for p in patterns.split(","))):
        if pattern.startswith("http://"):
            if scheme == "http" and f"{host}:{port}" == pattern.removeprefix("http://"):
                return True
        elif scheme == "https" and fnmatchcase(host, pattern.removeprefix("https://")):
            return True
    return False


def check_rossum_urls(payload: HookPayload, patterns: str) -> None:
    """The Rossum token is only ever sent to an allowed base_url's own host."""
    if not rossum_host_allowed(payload.base_url, patterns):
        raise ForbiddenHostError(
            f"base_url {payload.base_url!r} is not an allowed Rossum host (ALLOWED_ROSSUM_HOSTS)"
        )
    home = origin(payload.base_url)
    urls = {
        "hook": payload.hook_url,
        "annotation.url": payload.annotation["url"],
        "annotation.content": payload.annotation["content"],
        "document.url": (payload.document or {}).get("url"),
        "document.content": (payload.document or {}).get("content"),
    }
    for path, url in urls.items():
        if isinstance(url, str) and origin_of_or_none(url) != home:
            raise ForbiddenHostError(f"{path} is not on base_url's host")


def origin_of_or_none(url: str):
    try:
        return origin(url)
    except ValueError:
        return None


class CrossOriginRedirect(requests.RequestException):
    """A redirect to another origin, refused before anything is sent there."""

    def __init__(self, from_url: str, to_url: str):
        self.from_host = urlsplit(from_url).netloc
        self.to_host = urlsplit(to_url).netloc
        super().__init__(
            f"redirected from {self.from_host} to {self.to_host}, another origin "
            "(scheme, host and port): not followed, nothing was sent there"
        )


def refuse_cross_origin_redirect(response: requests.Response, **kwargs) -> requests.Response:
    """Response hook: a redirect stays within the origin of the request it answers.

    Runs on every hop before requests follows it, so no header or body of ours reaches
    another origin (requests itself drops only Authorization and cookies there).
    """
    if response.is_redirect:
        location = urljoin(response.url, response.headers["location"])
        if origin_of_or_none(location) != origin_of_or_none(response.url):
            response.close()
            raise CrossOriginRedirect(response.url, location)
    return response


def harden(session: requests.Session, allow_private_targets: bool) -> requests.Session:
    """Refuse non-public addresses on every hop (unless allowed); at most 5 redirects, all
    within the request's own origin."""
    session.max_redirects = MAX_REDIRECTS
    session.hooks["response"].append(refuse_cross_origin_redirect)
    if not allow_private_targets:
        session.mount("http://", IPFilterAdapter(is_https_proto=False))
        session.mount("https://", IPFilterAdapter(is_https_proto=True))
    return session
