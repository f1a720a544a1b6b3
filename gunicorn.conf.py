# gunicorn settings for an I/O-bound service: a few processes, many threads each,
# since an export spends its time waiting on Rossum and on the customer's API.
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Above Rossum's longest hook timeout (60 s), so a slow export is not killed mid-request.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "90"))
graceful_timeout = 30
keepalive = 5
accesslog = "-"
