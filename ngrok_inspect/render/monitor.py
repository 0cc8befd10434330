"""Text views for the live commands: follow lines, follow notices, monitor figures, alerts.

Plain functions returning strings (no I/O, no rich): the commands decide where they go
(data on stdout, notices and alerts on stderr). :func:`follow_text` returns a rich
``Text`` for terminals and is the only place rich is imported, lazily.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ngrok_inspect import escape

if TYPE_CHECKING:
    from rich.text import Text

    from ngrok_inspect.models import CapturedRequest
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


def status_style(code: int | None) -> str:
    """Colour of a status code: the same as the request tables."""
    from ngrok_inspect.render.requests import status_style as style

    return style(code)


_TUNNEL_W = 12


def follow_header(*, width: int = 120) -> Text:
    """The column titles printed once above the follow rows on a terminal."""
    from rich.text import Text

    del width  # the URI comes last and is the one cut when the terminal is narrow
    return Text(
        f"{'TIME':<8}  {'METHOD':<7} {'STATUS':>6}  {'DURATION':>8}  "
        f"{'TUNNEL':<{_TUNNEL_W}}  {'ID':<32}  URI",
        style="bold",
        no_wrap=True,
        overflow="ellipsis",
    )


def follow_text(req: CapturedRequest, *, width: int = 120) -> Text:
    """One coloured row for terminals, aligned under :func:`follow_header`: time, method,
    status, duration, tunnel, id, then the URI, cut with an ellipsis at ``width``."""
    from rich.text import Text

    status = "-" if req.status_code is None else str(req.status_code)
    row = Text(no_wrap=True, overflow="ellipsis")
    row.append(f"{_clock(req.start):<8}  ", style="dim")
    row.append(f"{escape.field(req.method):<7} ", style="bold")
    row.append(f"{status:>6}", style=status_style(req.status_code))
    dur = format_duration(None if req.pending else req.duration_ms)
    row.append(f"  {dur:>8}  ")
    row.append(f"{escape.field(req.tunnel_name):<{_TUNNEL_W}}", style="magenta")
    row.append("  ")
    row.append(f"{escape.field(req.id):<32}", style="dim")
    row.append("  ")
    row.append(escape.field(req.request.uri))
    row.truncate(width, overflow="ellipsis")
    return row


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
            f"{r.status_code if r.status_code is not None else 'no response'} "
            f"{escape.field(r.method)} {escape.field(r.path)} {_clock(r.start)}"
            for r in fig.recent_errors
        )
        line += f"; recent errors: {shown}"
    return line


def alert_json(alert: Alert) -> dict[str, Any]:
    """The alert object (``--json`` and ``--exec`` stdin)."""
    return alert.to_dict()
