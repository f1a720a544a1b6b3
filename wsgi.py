import sys

from app import create_app
from app.config import ConfigError
from app.garbage_collection import settle_for_serving

try:
    app = create_app()
except ConfigError as error:
    # One line, no traceback. Exit status 4 is gunicorn's "App failed to load": the master
    # stops, rather than booting worker after worker that cannot start.
    print(f"rest-api-export cannot start: {error}", file=sys.stderr)
    sys.exit(4)
settle_for_serving()  # each worker imports this module once, after gunicorn forked it
