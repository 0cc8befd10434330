"""Long-running commands (``agent``, ``demo --keep``) stop cleanly on Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def stop_requested(*, second_interrupts: bool = False) -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while the block runs (handlers restored after).

    The command then leaves its loop, closes what it opened and exits 0, instead of
    dying with a KeyboardInterrupt wherever it happened to be. ``second_interrupts``: a
    second signal raises KeyboardInterrupt at once (the loop may be waiting for a slow
    agent's answer, up to --api-timeout).
    """
    stop = threading.Event()

    def handler(*_: object) -> None:
        if second_interrupts and stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
