"""Tunnel metrics computed from real traffic, in the shape the ngrok agent serves.

The agent uses go-metrics: a *meter* (count and 1/5/15-minute exponentially weighted
moving averages of events per second, ticked every 5 s) and a *histogram* over a
uniform sample of durations (nanoseconds), whose percentiles interpolate at
``p * (n + 1)``. Both are reproduced here; everything runs on the agent's event loop.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

TICK_SECONDS = 5.0
RESERVOIR_SIZE = 1028
PERCENTILES = (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99))


def go_number(value: float) -> float | int:
    """``value`` as Go's JSON encoder writes a float64: integral values without ``.0``."""
    return int(value) if float(value).is_integer() else value


class _Ewma:
    def __init__(self, minutes: float) -> None:
        self.alpha = 1.0 - math.exp(-TICK_SECONDS / 60.0 / minutes)
        self.rate = 0.0
        self.initialised = False

    def tick(self, uncounted: int) -> None:
        instant = uncounted / TICK_SECONDS
        if self.initialised:
            self.rate += self.alpha * (instant - self.rate)
        else:
            self.rate = instant
            self.initialised = True


class Meter:
    """Count of events and their 1/5/15-minute moving-average rates (per second)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self.count = 0
        self._uncounted = 0
        self._last_tick = clock()
        self._ewmas = (_Ewma(1), _Ewma(5), _Ewma(15))

    def mark(self, n: int = 1) -> None:
        """Record ``n`` events."""
        self._catch_up()
        self.count += n
        self._uncounted += n

    def _catch_up(self) -> None:
        now = self._clock()
        while now - self._last_tick >= TICK_SECONDS:
            self._last_tick += TICK_SECONDS
            for e in self._ewmas:
                e.tick(self._uncounted)
            self._uncounted = 0

    def rates(self) -> tuple[float, float, float]:
        """``(rate1, rate5, rate15)`` in events per second."""
        self._catch_up()
        return (self._ewmas[0].rate, self._ewmas[1].rate, self._ewmas[2].rate)


class Histogram:
    """A uniform reservoir sample of durations (ns) with go-metrics percentiles."""

    def __init__(self, size: int = RESERVOIR_SIZE) -> None:
        self._size = size
        self._values: list[int] = []
        self._seen = 0

    def update(self, value: int) -> None:
        """Add one observation (Vitter's algorithm R)."""
        self._seen += 1
        if len(self._values) < self._size:
            self._values.append(value)
        else:
            slot = int(random.random() * self._seen)  # randrange's cost, per request
            if slot < self._size:
                self._values[slot] = value

    def percentiles(self) -> dict[str, float | int]:
        """p50, p90, p95, p99 as go-metrics computes them (0 when empty)."""
        values = sorted(self._values)
        n = len(values)
        out: dict[str, float | int] = {}
        for key, p in PERCENTILES:
            if n == 0:
                out[key] = 0
                continue
            pos = p * (n + 1)
            if pos < 1.0:
                out[key] = values[0]
            elif pos >= n:
                out[key] = values[-1]
            else:
                lower, upper = values[int(pos) - 1], values[int(pos)]
                score = lower + (pos - math.floor(pos)) * (upper - lower)
                out[key] = go_number(score)
        return out


class TunnelMetrics:
    """The ``metrics`` object of one tunnel: ``conns`` (with ``gauge``) and ``http``."""

    def __init__(self) -> None:
        self.conns = Meter()
        self.conn_durations = Histogram()
        self.gauge = 0
        self.http = Meter()
        self.http_durations = Histogram()

    def conn_opened(self) -> None:
        """A client connection was accepted."""
        self.conns.mark()
        self.gauge += 1

    def conn_closed(self, duration_ns: int) -> None:
        """A client connection closed after ``duration_ns``."""
        self.gauge = max(0, self.gauge - 1)
        self.conn_durations.update(duration_ns)

    def request_done(self, duration_ns: int) -> None:
        """An HTTP exchange finished after ``duration_ns``."""
        self.http.mark()
        self.http_durations.update(duration_ns)

    def to_api(self) -> dict[str, Any]:
        """The agent's JSON ``metrics`` object."""
        r1, r5, r15 = self.conns.rates()
        conns: dict[str, Any] = {
            "count": self.conns.count,
            "gauge": self.gauge,
            "rate1": go_number(r1),
            "rate5": go_number(r5),
            "rate15": go_number(r15),
        }
        conns.update(self.conn_durations.percentiles())
        h1, h5, h15 = self.http.rates()
        http: dict[str, Any] = {
            "count": self.http.count,
            "rate1": go_number(h1),
            "rate5": go_number(h5),
            "rate15": go_number(h15),
        }
        http.update(self.http_durations.percentiles())
        return {"conns": conns, "http": http}
