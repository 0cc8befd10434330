"""Summary figures over a set of captured requests (``ngrok-inspect stats``).

Durations are in milliseconds and computed over finished entries only (a pending entry
has no duration yet; a failed one, ended without a response, counts until it failed).
Percentiles interpolate linearly between the two nearest ranks (the "inclusive"/type-7
definition used by numpy's default and ``statistics.quantiles(method="inclusive")``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ngrok_inspect.models import CapturedRequest

__all__ = ["DurationStats", "PathDurations", "Stats", "compute_stats", "percentile"]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of already sorted values, linear interpolation."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if len(sorted_values) == 1:
        return float(sorted_values[0])
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac)


@dataclass(frozen=True)
class DurationStats:
    """avg/p50/p95/p99/max of durations in ms (``count`` completed entries)."""

    count: int
    avg: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None

    @classmethod
    def of(cls, durations: Iterable[float]) -> DurationStats:
        """Figures of ``durations`` (ms); all None when there are none."""
        values = sorted(durations)
        if not values:
            return cls(0, None, None, None, None, None)
        return cls(
            count=len(values),
            avg=sum(values) / len(values),
            p50=percentile(values, 50),
            p95=percentile(values, 95),
            p99=percentile(values, 99),
            max=values[-1],
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (ms rounded to 3 decimals, i.e. microseconds)."""

        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 3)

        return {
            "count": self.count,
            "avg_ms": r(self.avg),
            "p50_ms": r(self.p50),
            "p95_ms": r(self.p95),
            "p99_ms": r(self.p99),
            "max_ms": r(self.max),
        }


@dataclass(frozen=True)
class PathDurations:
    """Duration figures of one path."""

    path: str
    durations: DurationStats

    def to_dict(self) -> dict[str, Any]:
        """``{"path": ..., "count": ..., "avg_ms": ...}``."""
        return {"path": self.path, **self.durations.to_dict()}


@dataclass(frozen=True)
class TunnelCounts:
    """Requests and errors of one tunnel."""

    tunnel: str
    requests: int
    errors: int

    def to_dict(self) -> dict[str, Any]:
        """``{"tunnel": ..., "requests": ..., "errors": ...}``."""
        return {"tunnel": self.tunnel, "requests": self.requests, "errors": self.errors}


@dataclass(frozen=True)
class Stats:
    """Everything ``stats`` shows; :meth:`to_dict` is its ``--json`` form."""

    total: int
    pending: int
    by_method: dict[str, int]
    by_status_class: dict[str, int]
    by_status: dict[int, int]
    top_paths: list[tuple[str, int]]
    by_tunnel: list[TunnelCounts]
    error_count: int
    recent_errors: list[CapturedRequest]
    durations: DurationStats
    slowest_paths: list[PathDurations]
    first: str | None = None
    last: str | None = None
    top: int = 10
    failed: int = 0  # ended without a response (an ``error`` says why)

    def to_dict(self) -> dict[str, Any]:
        """Stable JSON: counts, top paths, tunnels, errors, durations (ms)."""
        return {
            "total": self.total,
            "pending": self.pending,
            "failed": self.failed,
            "first": self.first,
            "last": self.last,
            "by_method": dict(self.by_method),
            "by_status_class": dict(self.by_status_class),
            "by_status": {str(k): v for k, v in self.by_status.items()},
            "top_paths": [{"path": p, "count": n} for p, n in self.top_paths],
            "by_tunnel": [t.to_dict() for t in self.by_tunnel],
            "errors": {
                "count": self.error_count,
                "recent": [
                    {
                        "id": r.id,
                        "start": r.start.isoformat(),
                        "status_code": r.status_code,
                        "method": r.method,
                        "path": r.path,
                        "error": r.error,
                    }
                    for r in self.recent_errors
                ],
            },
            "duration": self.durations.to_dict(),
            "slowest_paths": [p.to_dict() for p in self.slowest_paths],
        }


def _status_class(r: CapturedRequest) -> str:
    code = r.status_code
    if code is not None:
        return f"{code // 100}xx"
    return "failed" if r.failed else "pending"


def _by_count(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def compute_stats(reqs: Iterable[CapturedRequest], *, top: int = 10) -> Stats:
    """Figures over ``reqs`` (any order). ``top`` bounds the top paths, the slowest paths
    and the recent errors."""
    items = list(reqs)
    top = max(0, top)
    methods: Counter[str] = Counter()
    classes: Counter[str] = Counter()
    codes: Counter[int] = Counter()
    paths: Counter[str] = Counter()
    tunnels: Counter[str] = Counter()
    tunnel_errors: Counter[str] = Counter()
    per_path: dict[str, list[float]] = {}
    durations: list[float] = []
    errors: list[CapturedRequest] = []
    pending = failed = 0
    for r in items:
        methods[r.method] += 1
        classes[_status_class(r)] += 1
        paths[r.path] += 1
        tunnels[r.tunnel_name] += 1
        if r.status_code is not None:
            codes[r.status_code] += 1
        if r.is_error:
            errors.append(r)
            tunnel_errors[r.tunnel_name] += 1
        failed += r.failed
        if r.pending:
            pending += 1
        else:
            durations.append(r.duration_ms)
            per_path.setdefault(r.path, []).append(r.duration_ms)
    class_order = ["1xx", "2xx", "3xx", "4xx", "5xx", "failed", "pending"]
    by_class = {c: classes[c] for c in class_order if classes[c]}
    by_class.update({c: n for c, n in sorted(classes.items()) if c not in by_class})
    slowest = sorted(
        (PathDurations(p, DurationStats.of(v)) for p, v in per_path.items()),
        key=lambda pd: (-(pd.durations.p95 or 0.0), -(pd.durations.max or 0.0), pd.path),
    )[:top]
    errors.sort(key=lambda r: (r.start, r.id), reverse=True)
    starts = sorted(r.start for r in items)
    return Stats(
        total=len(items),
        pending=pending,
        by_method=_by_count(methods),
        by_status_class=by_class,
        by_status=dict(sorted(codes.items())),
        top_paths=sorted(paths.items(), key=lambda kv: (-kv[1], kv[0]))[:top],
        by_tunnel=[
            TunnelCounts(t, n, tunnel_errors[t])
            for t, n in sorted(tunnels.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        error_count=len(errors),
        recent_errors=errors[:top],
        durations=DurationStats.of(durations),
        slowest_paths=slowest,
        first=starts[0].isoformat() if starts else None,
        last=starts[-1].isoformat() if starts else None,
        top=top,
        failed=failed,
    )
