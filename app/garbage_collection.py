"""How the service uses Python's cyclic garbage collector.

A serving process sets it up once (:func:`settle_for_serving`), and pauses it while a
request builds a big tree of objects (:func:`collection_paused`).
"""

import gc
from contextlib import contextmanager

# Collections of the youngest generation start after this many more container objects
# were made than freed (Python's default is 700). Almost everything an export makes is
# freed by reference counting, but with dozens of exports in flight, 700 is reached
# every few exports and each collection walks every in-flight object again.
YOUNG_GENERATION_THRESHOLD = 10_000


def settle_for_serving() -> None:
    """Once the app is loaded: what the imports made is kept out of every later
    collection (frozen), and the young generation is collected less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)


@contextmanager
def collection_paused():
    """No cyclic garbage collection meanwhile, for work that makes many objects and no cycles.

    Parsing a hook payload or rendering its line items allocates hundreds of thousands
    of dicts and lists; the collections they trigger would walk the whole growing heap
    again and again (for a 13 MB payload, several times the cost of the work itself).
    Cycles made meanwhile elsewhere are collected once it ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:  # a pause within a pause leaves collection to the outer one
            gc.enable()
