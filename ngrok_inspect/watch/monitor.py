"""``monitor``: per-tunnel request rate and error ratio per interval, with alerts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ngrok_inspect.errors import NgrokInspectError
from ngrok_inspect.filters import RequestFilter
from ngrok_inspect.watch.clock import SYSTEM_CLOCK, Clock
from ngrok_inspect.watch.poller import FollowEvent, Poller

if TYPE_CHECKING:
    from ngrok_inspect.client import AgentClient
    from ngrok_inspect.models import CapturedRequest

__all__ = [
    "DEFAULT_MIN_REQUESTS",
    "Alert",
    "IntervalReport",
    "Monitor",
    "TunnelFigures",
    "error_summary",
]

#: an error-rate alert needs this many requests in the interval: 1 failure of 1 request
#: is not a 100 % outage (``monitor --min-requests``)
DEFAULT_MIN_REQUESTS = 5


@dataclass
class TunnelFigures:
    """One tunnel's figures over one interval."""

    tunnel: str
    requests: int
    errors: int
    rate_per_min: float
    error_rate: float  # 0..1; 0 when there were no requests
    recent_errors: list[CapturedRequest] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (recent errors as small summaries: never headers or bodies)."""
        return {
            "tunnel": self.tunnel,
            "requests": self.requests,
            "errors": self.errors,
            "rate_per_min": round(self.rate_per_min, 3),
            "error_rate": round(self.error_rate, 4),
            "recent_errors": [error_summary(r) for r in self.recent_errors],
        }


def error_summary(r: CapturedRequest) -> dict[str, Any]:
    """id, time, status, method and path of an entry (what an alert may show)."""
    return {
        "id": r.id,
        "start": r.start.isoformat(),
        "status_code": r.status_code,
        "method": r.method,
        "path": r.path,
    }


@dataclass
class Alert:
    """A threshold crossed by one tunnel over one interval."""

    tunnel: str
    metric: str  # "rate" (requests per minute) or "error_rate" (0..1)
    value: float
    threshold: float
    figures: TunnelFigures
    interval_s: float
    time: datetime

    def to_dict(self) -> dict[str, Any]:
        """The alert as JSON (what ``--exec`` gets on stdin and ``--json`` prints)."""
        return {
            "type": "alert",
            "time": self.time.isoformat(),
            "tunnel": self.tunnel,
            "metric": self.metric,
            "value": round(self.value, 4),
            "threshold": self.threshold,
            "interval_s": round(self.interval_s, 3),
            **{k: v for k, v in self.figures.to_dict().items() if k != "tunnel"},
        }


@dataclass
class IntervalReport:
    """What one monitor interval saw: figures per tunnel, the alerts, agent notices."""

    time: datetime
    interval_s: float
    tunnels: list[TunnelFigures]
    alerts: list[Alert]
    notices: list[FollowEvent]

    def to_dicts(self) -> list[dict[str, Any]]:
        """One ``{"type": "interval", …}`` object per tunnel, then the alerts."""
        out: list[dict[str, Any]] = [
            {
                "type": "interval",
                "time": self.time.isoformat(),
                "interval_s": round(self.interval_s, 3),
                **t.to_dict(),
            }
            for t in self.tunnels
        ]
        out.extend(a.to_dict() for a in self.alerts)
        return out


class Monitor:
    """Per-tunnel requests/min and error ratio per interval, counted by request id.

    Call :meth:`collect` as often as you like during an interval (each call polls the
    agent once) and :meth:`close_interval` at its end. :meth:`run` does both on a clock.
    Counting new ids (not list lengths) keeps the figures right across eviction, a
    ``clear`` and an agent restart.
    """

    def __init__(
        self,
        client: AgentClient,
        flt: RequestFilter | None = None,
        *,
        interval: float = 60.0,
        max_rate: float | None = None,
        max_error_rate: float | None = None,
        page: int = 50,
        recent: int = 5,
        min_requests: int = DEFAULT_MIN_REQUESTS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.clock = clock
        self.min_requests = max(1, min_requests)
        self.client = client
        self.interval = interval
        self.max_rate = max_rate
        self.max_error_rate = max_error_rate
        self.recent = recent
        self.poller = Poller(client, flt, page=page, pending_existing=True, clock=clock)
        self._bucket: dict[str, list[CapturedRequest]] = {}
        self._notices: list[FollowEvent] = []
        self._tunnels: set[str] = set()
        self._tunnel_filter = (flt or RequestFilter()).tunnel

    def collect(self) -> None:
        """Poll once; count the entries that completed since the previous poll."""
        for ev in self.poller.poll():
            if ev.kind == "request" and ev.request is not None:
                self._bucket.setdefault(ev.request.tunnel_name, []).append(ev.request)
            else:
                self._notices.append(ev)

    def _known_tunnels(self) -> set[str]:
        if self._tunnel_filter is not None:
            return {self._tunnel_filter}
        try:
            names = {t.name for t in self.client.tunnels()}
        except NgrokInspectError:
            names = set()
        self._tunnels |= names
        return self._tunnels

    def close_interval(self, elapsed: float | None = None) -> IntervalReport:
        """Figures of the entries collected since the last call; ``elapsed`` is the
        interval's real length in seconds (default: the configured interval)."""
        seconds = self.interval if elapsed is None else elapsed
        minutes = max(seconds, 1e-9) / 60.0
        bucket, self._bucket = self._bucket, {}
        notices, self._notices = self._notices, []
        self._tunnels |= set(bucket)
        names = sorted(self._known_tunnels() | set(bucket))
        figures: list[TunnelFigures] = []
        alerts: list[Alert] = []
        now = self.clock.now()
        for name in names:
            reqs = bucket.get(name, [])
            errors = [r for r in reqs if r.is_error]
            fig = TunnelFigures(
                tunnel=name,
                requests=len(reqs),
                errors=len(errors),
                rate_per_min=len(reqs) / minutes,
                error_rate=(len(errors) / len(reqs)) if reqs else 0.0,
                recent_errors=sorted(errors, key=lambda r: (r.start, r.id))[-self.recent :][::-1]
                if self.recent
                else [],
            )
            figures.append(fig)
            if self.max_rate is not None and fig.rate_per_min > self.max_rate:
                alerts.append(
                    Alert(name, "rate", fig.rate_per_min, self.max_rate, fig, seconds, now)
                )
            if (
                self.max_error_rate is not None
                and fig.requests >= self.min_requests
                and fig.error_rate > self.max_error_rate
            ):
                alerts.append(
                    Alert(
                        name, "error_rate", fig.error_rate, self.max_error_rate, fig, seconds, now
                    )
                )
        return IntervalReport(now, seconds, figures, alerts, notices)

    def run(
        self,
        *,
        stop: threading.Event | None = None,
        poll_interval: float = 1.0,
        intervals: int | None = None,
    ) -> Iterator[IntervalReport]:
        """Yield one report per interval (forever, or ``intervals`` times, or until
        ``stop``). The first poll records the starting point: what the agent already
        holds is not counted."""
        self.collect()
        done = 0
        while intervals is None or done < intervals:
            begin = self.clock.monotonic()
            end = begin + self.interval
            stopped = False
            while True:
                left = end - self.clock.monotonic()
                if left <= 0:
                    break
                if self.clock.sleep(min(poll_interval, left), stop):
                    stopped = True
                    break
                self.collect()
            self.collect()
            yield self.close_interval(self.clock.monotonic() - begin)
            done += 1
            if stopped:
                return
