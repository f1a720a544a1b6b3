"""``python -m app.state.durability``: refuse a Redis that keeps no persistence (SPEC §9).

gunicorn's master runs it before any worker starts, so that the master itself imports
nothing of the app; exit status 1 and one line on stderr when the start must stop.
"""

import sys

from ..config import Config
from . import VolatileStateError, open_store


def main() -> int:
    config = Config.from_env()
    try:
        open_store(config.STATE_URL, volatile_ok=config.STATE_VOLATILE_OK)
    except VolatileStateError as error:
        print(f"rest-api-export refuses to start: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
