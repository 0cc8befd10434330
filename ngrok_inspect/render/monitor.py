"""Text views for the live commands: follow notices, monitor figures, alerts.

Plain functions returning strings (no I/O, no rich): the commands decide where they go
(data on stdout, notices and alerts on stderr). Follow rows on a terminal are the
``requests list`` table's (render/requests.py:FollowTable).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ngrok_inspect import escape
from ngrok_inspect.render.text import status_text

if TYPE_CHECKING:
    from ngrok_inspect.watch import Alert, FollowEvent, IntervalReport


def format_duration(ms: float | None) -> str:
    """``0.93ms``, ``412ms``, ``2.41s``; ``-`` when unknown."""
    if ms is None:
        return "-"
    if ms < 10:
        return f"{ms:.2f}ms"
    if ms < 1000:
        return f"{ms:.0f}ms"
    return f"{ms / 1000:.2f}s"


def _clock(when: datetime) -> str:
    return when.astimezone().strftime("%H:%M:%S")


def status_style(code: int | None, *, failed: bool = False) -> str:
    """Colour of a status code: the same as the request tables."""
    from ngrok_inspect.render.requests import status_style as style

    return style(code, failed=failed)


def notice_line(event: FollowEvent) -> str:
    """A follow/wait/monitor notice for stderr (agent down, back, cleared, restarted)."""
    text = {
        "agent_down": "agent is not answering ({msg}); retrying",
        "agent_up": "{msg}; following on",
        "restarted": "agent restarted and its history is gone; following on",
        "cleared": "the agent's history was cleared; following on",
    }.get(event.kind, "{msg}")
    return "-- " + text.format(msg=escape.field(event.message))


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.1f}%"


def interval_lines(report: IntervalReport) -> list[str]:
    """One line per tunnel: time, tunnel, requests/min, error ratio (errors/requests)."""
    clock = _clock(report.time)
    if not report.tunnels:
        return [f"{clock}  (no tunnels)  0 requests in {report.interval_s:.0f}s"]
    width = max(len(escape.field(t.tunnel)) for t in report.tunnels)
    return [
        f"{clock}  {escape.field(t.tunnel):<{width}}  {t.rate_per_min:8.1f} req/min  "
        f"errors {_pct(t.error_rate):>6} ({t.errors}/{t.requests})"
        for t in report.tunnels
    ]


def alert_line(alert: Alert) -> str:
    """``ALERT web: error rate 50.0% > 10.0% over the last 60s (2 of 4 requests); recent
    errors: 500 GET /boom 16:33:06, …``."""
    fig = alert.figures
    span = f"over the last {alert.interval_s:.0f}s"
    if alert.metric == "rate":
        what = f"request rate {alert.value:.1f}/min > {alert.threshold:g}/min {span}"
    else:
        what = f"error rate {_pct(alert.value)} > {_pct(alert.threshold)} {span}"
    tunnel = escape.field(alert.tunnel)
    line = f"ALERT {tunnel}: {what} ({fig.errors} errors in {fig.requests} requests)"
    if fig.recent_errors:
        shown = ", ".join(
            f"{status_text(r)} {escape.field(r.method)} {escape.field(r.path)} {_clock(r.start)}"
            for r in fig.recent_errors
        )
        line += f"; recent errors: {shown}"
    return line


def alert_json(alert: Alert) -> dict[str, Any]:
    """The alert object (``--json`` and ``--exec`` stdin)."""
    return alert.to_dict()
