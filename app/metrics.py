"""Prometheus metrics (SPEC §2): counted per export object, correct across gunicorn workers.

Under gunicorn, ``gunicorn.conf.py`` sets ``PROMETHEUS_MULTIPROC_DIR`` before any
worker starts, so every worker writes its samples there and any worker's
``/metrics`` answers the sum. Labels hold outcomes, status classes and host-free
values only: never a URL, a query or a secret.
"""

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

OUTCOMES = ("success", "warning", "error", "skipped", "duplicate")

EXPORTS = Counter("rest_api_export_exports", "Export objects run, by outcome", ["outcome"])
DURATION = Histogram(
    "rest_api_export_duration_seconds",
    "Time one export object took, Rossum calls and retries included",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60),
)
TARGET_REPLIES = Counter(
    "rest_api_export_target_replies",
    "Export requests by how the target answered: 2xx..5xx, or error (no answer)",
    ["status_class"],
)
TOKEN_REQUESTS = Counter(
    "rest_api_export_token_requests", "Token endpoint requests, by outcome", ["outcome"]
)
JOBS_RUNNING = Gauge(
    "rest_api_export_jobs_running",
    "Hook calls whose exports are running in the background right now",
    multiprocess_mode="livesum",
)
ROSSUM_CALLS = Counter(
    "rest_api_export_rossum_calls", "Rossum API calls, by status (or error)", ["status"]
)

for _outcome in OUTCOMES:  # every outcome is on a dashboard from the start, at 0
    EXPORTS.labels(_outcome)


def status_class(status: int | None) -> str:
    return f"{status // 100}xx" if status else "error"


def exposition(multiprocess_dir: str) -> tuple[bytes, str]:
    """The metrics text, summed over every worker's files when in multiprocess mode."""
    registry = REGISTRY
    if multiprocess_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=multiprocess_dir)
    return generate_latest(registry), CONTENT_TYPE_LATEST


STATE_LOST = Counter(
    "rest_api_export_state_lost",
    "Times a process noticed that the state store lost what it remembered "
    "(SQLite file deleted or replaced, Redis flushed or restarted without persistence)",
)
