"""Ctrl-C and SIGTERM that no library can swallow: each is remembered, and raised again where training checks.

Keras turns an epoch's logs into floats inside a bare ``except:`` (``pythonify_logs``). On JAX that is
where the process waits for the device, so a Ctrl-C often lands there; the ``KeyboardInterrupt`` was
lost and the run trained on to its last epoch (1 in 16 tries of a digits run). The handlers here
remember every signal before raising, and :func:`raise_if_requested` raises it again: the training
loop asks after each epoch's history row is written, and once the fit returns. No Keras here.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so a run is marked interrupted and cleaned up."""


_received: list[type[KeyboardInterrupt]] = []


def on_sigint(signum: int, frame: Any) -> None:
    """Ctrl-C: remember it, then raise ``KeyboardInterrupt`` as Python's own handler does."""
    _received.append(KeyboardInterrupt)
    raise KeyboardInterrupt


def on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM: remember it, then raise :class:`Terminated`."""
    _received.append(Terminated)
    raise Terminated


def remember(kind: type[KeyboardInterrupt] = KeyboardInterrupt) -> None:
    """Record an interrupt a handler of its own raises (a sweep worker's)."""
    _received.append(kind)


def raise_if_requested() -> None:
    """Raise the first interrupt received again, if one came (whether or not it was swallowed on the way)."""
    if _received:
        raise _received[0]()


def clear() -> None:
    """Forget the interrupts received (a process that goes on after handling one)."""
    _received.clear()


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Install :func:`on_sigint` and :func:`on_sigterm` for the block (main thread only), starting with none received."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    clear()
    previous = signal.signal(signal.SIGINT, on_sigint), signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
        clear()
