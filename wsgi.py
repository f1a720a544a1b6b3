import sys

from app import create_app
from app.config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    # One line, no traceback. Exit status 4 is gunicorn's "App failed to load": the master
    # stops, rather than booting worker after worker that cannot start.
    print(f"rest-api-export cannot start: {error}", file=sys.stderr)
    sys.exit(4)
