"""Long-lived pieces the pipeline runs with: configuration and per-thread HTTP sessions."""

import threading
from collections.abc import Mapping

import requests

from ..oauth import TokenEndpoint
from ..payload import HookPayload
from ..redaction import Redactor
from ..rossum import RossumClient
from ..security import harden
from .delivery import Delivery


class Runtime:
    """Builds the Rossum client and the delivery for a hook call.

    Sessions are kept per thread (requests.Session is not thread-safe) and reused
    across calls, so connections to Rossum and to targets stay open.
    """

    def __init__(self, config: Mapping):
        self.config = config
        self._local = threading.local()

    def session(self, kind: str) -> requests.Session:
        sessions = self._local.__dict__.setdefault("sessions", {})
        if kind not in sessions:
            session = requests.Session()
            if kind == "target":
                harden(session, self.config["ALLOW_PRIVATE_TARGETS"])
            sessions[kind] = session
        return sessions[kind]

    def rossum_client(self, payload: HookPayload) -> RossumClient:
        return RossumClient(
            self.session("rossum"),
            payload.base_url,
            payload.rossum_token,
            timeout=self.config["ROSSUM_TIMEOUT_S"],
            retry_after_max=self.config["ROSSUM_RETRY_AFTER_MAX_S"],
        )

    def token_endpoint(self, redactor: Redactor) -> TokenEndpoint:
        return TokenEndpoint(
            connect_timeout=self.config["TARGET_CONNECT_TIMEOUT_S"],
            read_timeout=self.config["TARGET_READ_TIMEOUT_S"],
            redactor=redactor,
            allow_private_targets=self.config["ALLOW_PRIVATE_TARGETS"],
        )

    def delivery(self) -> Delivery:
        return Delivery(
            self.session("target"),
            connect_timeout=self.config["TARGET_CONNECT_TIMEOUT_S"],
            read_timeout=self.config["TARGET_READ_TIMEOUT_S"],
        )
