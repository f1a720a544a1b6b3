"""What differs when gevent has monkey-patched the standard library (the default worker).

Under the patching, ``threading`` makes greenlets and ``threading.local`` is per
greenlet; what must be per OS thread, or must not yield to the hub, is made here from
the originals.
"""

import select
import sys
import threading


def patched(module: str) -> bool:
    """Whether gevent has patched the standard module ``module`` in this process."""
    gevent_monkey = sys.modules.get("gevent.monkey")
    return gevent_monkey is not None and gevent_monkey.is_module_patched(module)


def os_thread_local():
    """A ``threading.local`` of the OS thread: shared by the greenlets of a thread."""
    if patched("threading"):
        return sys.modules["gevent.monkey"].get_original("threading", "local")()
    return threading.local()


def poll():
    """A ``select.poll`` object that never yields to the hub."""
    if patched("select"):
        return sys.modules["gevent.monkey"].get_original("select", "poll")()
    return select.poll()
