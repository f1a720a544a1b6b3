"""Long-lived pieces the pipeline runs with: configuration and per-thread HTTP sessions."""

import threading
from collections.abc import Mapping
from functools import cached_property

import requests

from .. import deadlines
from ..config import claim_lease_s, heartbeat_s, job_alive_s
from ..oauth import TokenEndpoint
from ..payload import HookPayload
from ..redaction import Redactor
from ..rossum import RossumClient
from ..security import harden
from ..state import StateStore, open_store
from ..state.heartbeat import Heartbeat
from .dedup import DuplicateGuard
from .delivery import Delivery
from .progress import report_progress
from .retries import RetryPolicy
from .sessions import ProxyEnvironment


class Runtime:
    """Builds the Rossum client and the delivery for a hook call.

    Sessions are kept per thread (requests.Session is not thread-safe) and reused
    across calls, so connections to Rossum and to targets stay open.
    """

    def __init__(self, config: Mapping):
        self.config = config
        self.proxy_environment = ProxyEnvironment.read()
        self._local = threading.local()

    def session(self, kind: str) -> requests.Session:
        sessions = self._local.__dict__.setdefault("sessions", {})
        if kind not in sessions:
            session = self.proxy_environment.session()
            if kind == "target":
                harden(session, self.config["ALLOW_PRIVATE_TARGETS"])
                report_progress(session)  # claims record how far each request got
            else:  # Rossum: the same connection classes (no deadline is set for its calls)
                deadlines.install(session)
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
            proxy_environment=self.proxy_environment,
        )

    def delivery(self) -> Delivery:
        """Sends on the target session of whichever thread sends (not the one asking)."""
        return Delivery(lambda: self.session("target"), self.config["MAX_REPLY_BYTES"])

    def retry_policy(self, mode: str, resend_allowed: bool) -> RetryPolicy:
        config = self.config
        timeouts = "RETRY" if mode == "retry" else "TARGET"
        return RetryPolicy(
            retry=mode == "retry",
            resend_allowed=resend_allowed,
            connect_timeout=config[f"{timeouts}_CONNECT_TIMEOUT_S"],
            read_timeout=config[f"{timeouts}_READ_TIMEOUT_S"],
            budget_s=config["RETRY_BUDGET_S"],
            backoff_s=config["RETRY_BACKOFF_S"],
        )

    @cached_property
    def state_store(self) -> StateStore:
        return open_store(self.config["STATE_URL"], volatile_ok=self.config["STATE_VOLATILE_OK"])

    @cached_property
    def heartbeat(self) -> Heartbeat:
        """This process's heartbeat; its thread starts with the first claim or job."""
        return Heartbeat(
            self.state_store,
            interval_s=heartbeat_s(self.config),
            lease_s=claim_lease_s(self.config),
            job_alive_s=job_alive_s(self.config),
        )

    def duplicate_guard(self) -> DuplicateGuard:
        return DuplicateGuard(
            self.state_store,
            self.heartbeat,
            ttl_s=self.config["DEDUP_TTL_S"],
            wait_s=self.config["DEDUP_WAIT_S"],
            lease_s=claim_lease_s(self.config),
        )
