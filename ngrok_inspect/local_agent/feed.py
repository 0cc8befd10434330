"""Capture listeners: who hears about each completed capture, off the agent's loop.

:meth:`CaptureFeed.publish` is all the event loop does (a queue put); a daemon thread
turns each finished entry into a :class:`~ngrok_inspect.models.CapturedRequest` and
calls every listener with it, in completion order. A listener that raises is logged
(``ngrok_inspect.local_agent`` logger) and skipped: it can never break proxying, and the
other listeners still get the capture. A listener that is slow delays only the others.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from ngrok_inspect.local_agent.listeners import LOG
from ngrok_inspect.local_agent.store import Entry
from ngrok_inspect.models import CapturedRequest

CaptureListener = Callable[[CapturedRequest], None]
# Captures waiting for slow listeners, at most: beyond it new ones are dropped (and
# counted in ``dropped``) rather than letting a stuck listener grow memory without end.
MAX_PENDING = 10_000


class CaptureFeed:
    """Calls the capture listeners on one thread of its own."""

    def __init__(self, listeners: list[CaptureListener] | None = None) -> None:
        self._listeners: tuple[CaptureListener, ...] = tuple(listeners or ())
        self._queue: queue.Queue[Entry | None] = queue.Queue(MAX_PENDING)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.dropped = 0  # captures not delivered because MAX_PENDING were waiting

    @property
    def active(self) -> bool:
        """Whether anyone listens (otherwise nothing is queued at all)."""
        return bool(self._listeners)

    def add(self, listener: CaptureListener) -> None:
        """Call ``listener`` with each capture completed from now on."""
        with self._lock:
            self._listeners = (*self._listeners, listener)
        self.start()

    def remove(self, listener: CaptureListener) -> None:
        """Stop calling ``listener`` (captures already queued may still reach it)."""
        with self._lock:
            items = list(self._listeners)
            if listener in items:
                items.remove(listener)
            self._listeners = tuple(items)

    def start(self) -> None:
        """Start the delivery thread (once, and only when someone listens)."""
        with self._lock:
            if self._listeners and self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="ngrok-inspect-captures", daemon=True
                )
                self._thread.start()

    def publish(self, entry: Entry) -> None:
        """Queue a finished entry (called on the agent's loop: never blocks)."""
        if not self._listeners:
            return
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float = 30.0) -> None:
        """Deliver what is queued, then stop the thread (idempotent)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(None)
        thread.join(timeout)

    def _run(self) -> None:
        while True:
            entry = self._queue.get()
            if entry is None:
                return
            self._deliver(entry)

    def _deliver(self, entry: Entry) -> None:
        listeners = self._listeners
        if not listeners:
            return
        try:
            record = CapturedRequest.from_api(entry.to_api())
        except Exception:  # a record the model refuses: no listener could use it
            LOG.exception("capture %s could not be read for the capture listeners", entry.id)
            return
        for listener in listeners:
            try:
                listener(record)
            except Exception:
                LOG.exception("a capture listener failed on %s", entry.id)
