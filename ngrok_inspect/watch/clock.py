"""The clock that live commands (follow, wait, monitor) read and sleep on.

It is injected so that tests (and ``record``) drive time themselves: a
:class:`ManualClock` never sleeps for real, it advances and calls a hook instead, so a
test can make traffic arrive "during" a sleep without racing a real timer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """What the watch loops need of time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (deadlines, interval lengths)."""

    def now(self) -> datetime:
        """The wall-clock time, aware, UTC (timestamps of reports)."""

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        """Wait ``seconds`` (or until ``stop`` is set); True when ``stop`` is set."""


class SystemClock:
    """The real clock: ``time.monotonic``, ``datetime.now``, and ``Event.wait``."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        if seconds <= 0:
            return stop is not None and stop.is_set()
        if stop is not None:
            return stop.wait(seconds)
        time.sleep(seconds)
        return False


SYSTEM_CLOCK = SystemClock()


class ManualClock:
    """A clock that moves only when slept on (or :meth:`advance` is called).

    ``on_sleep(clock)`` runs after every sleep has advanced the time: the place where a
    test sends traffic, sets ``stop`` or checks what was printed so far, in step with
    the loop and without real waiting.
    """

    def __init__(
        self,
        start: float = 0.0,
        *,
        wall: datetime | None = None,
        on_sleep: Callable[[ManualClock], None] | None = None,
    ) -> None:
        self._t = start
        self._start = start
        self._wall = wall or datetime(2026, 1, 1, tzinfo=timezone.utc)
        self.on_sleep = on_sleep
        self.sleeps: list[float] = []  # every sleep asked for, in order

    def monotonic(self) -> float:
        return self._t

    def now(self) -> datetime:
        return self._wall + timedelta(seconds=self._t - self._start)

    def advance(self, seconds: float) -> None:
        self._t += max(0.0, seconds)

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        self.sleeps.append(seconds)
        self.advance(seconds)
        if self.on_sleep is not None:
            self.on_sleep(self)
        return stop is not None and stop.is_set()
