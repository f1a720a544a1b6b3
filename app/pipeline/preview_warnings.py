"""What a preview warns about: requests the real export would refuse to send.

A preview renders each request without sending it. The real export also checks, on
every hop, that the target and the token endpoint resolve to public addresses (unless
ALLOW_PRIVATE_TARGETS is on); a preview resolves the same hosts with the same check
(requests-hardened's), so the refusal shows before a document fails its export.
"""

from urllib.parse import urlsplit

import requests
from requests_hardened.ip_filter import InvalidIPAddress, filter_host

from .base import Exporter

DEFAULT_PORTS = {"http": 80, "https": 443}


def refusals(exporter: Exporter, entry: dict, allow_private_targets: bool) -> list[str]:
    """Why the real export of a previewed request (``entry``) would be refused ([] when
    it would not). Entries of skipped or unrenderable requests have nothing to check."""
    if allow_private_targets or "url" not in entry:
        return []
    urls = {"request.url": entry["url"]}
    if exporter.settings.auth:
        urls["auth.url"] = exporter.render_token_request().url
    problems = (address_refusal(where, url) for where, url in urls.items())
    return [exporter.context.redactor.text(problem) for problem in problems if problem]


def address_refusal(where: str, url: str) -> str | None:
    """The real export's address check on ``url``'s host, in words; None when it passes."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        filter_host(host, parts.port or DEFAULT_PORTS.get(parts.scheme, 443), allow_loopback=False)
    except InvalidIPAddress as refused:
        return (
            f"{where}: the export would be refused: {host} resolves to {refused.args[0]}, "
            "which is not a public address (ALLOW_PRIVATE_TARGETS is off)"
        )
    except (requests.RequestException, OSError, ValueError):
        return f"{where}: the export would fail: the host name {host!r} could not be resolved"
    return None
