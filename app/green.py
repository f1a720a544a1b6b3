"""What differs when gevent has monkey-patched the standard library (the default worker).

Under the patching, ``threading`` makes greenlets and ``threading.local`` is per
greenlet; what must be per OS thread, or must not yield to the hub, asks here for the
originals.
"""

import select
import sys
import threading


def patched(module: str) -> bool:
    """Whether gevent has patched the standard module ``module`` in this process."""
    gevent_monkey = sys.modules.get("gevent.monkey")
    return gevent_monkey is not None and gevent_monkey.is_module_patched(module)


def original(module: str, name: str):
    """``module.name`` as the standard library has it, patched or not."""
    if patched(module):
        return sys.modules["gevent.monkey"].get_original(module, name)
    return getattr(sys.modules.get(module) or __import__(module), name)


def os_thread_local():
    """A ``threading.local`` of the OS thread: shared by the greenlets of a thread."""
    return original("threading", "local")() if patched("threading") else threading.local()


def poll():
    """A ``select.poll`` object that never yields to the hub."""
    return original("select", "poll")() if patched("select") else select.poll()
