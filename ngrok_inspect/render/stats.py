"""Rich tables for ``ngrok-inspect stats`` (the ``--json`` form is ``Stats.to_dict()``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ngrok_inspect import escape
from ngrok_inspect.render.monitor import format_duration, status_style
from ngrok_inspect.render.text import status_text

if TYPE_CHECKING:
    from rich.console import RenderableType

    from ngrok_inspect.stats import DurationStats, Stats


def _table(title: str, *columns: str, right: tuple[int, ...] = ()) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for i, col in enumerate(columns):
        # values are data: fold long ones onto a second line rather than cut them
        table.add_column(
            col,
            justify="right" if i in right else "left",
            overflow="fold",
            min_width=max(len(col), 4),
        )
    return table


def _cell(text: str) -> Text:
    """Captured text as a table cell: control characters visible, never rich markup."""
    return Text(escape.field(text))


def _pct(n: int, total: int) -> str:
    return f"{n / total * 100:.1f}%" if total else "-"


def _dur_cells(d: DurationStats) -> list[str]:
    return [format_duration(v) for v in (d.avg, d.p50, d.p95, d.p99, d.max)]


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def stats_plain(stats: Stats) -> str:
    """Plain lines for pipes, no box drawing: each is tab-separated and starts with what it
    is (``requests``, ``duration``, ``method``, ``status_class``, ``status``, ``path``,
    ``tunnel``, ``error``), so ``grep '^path'`` or ``awk -F'\t'`` picks a section.
    Durations are exact milliseconds; nothing for an empty set."""
    if stats.total == 0:
        return ""
    rows: list[list[str]] = [["requests", str(stats.total)], ["pending", str(stats.pending)]]
    rows.append(["failed", str(stats.failed)])
    rows.append(["errors", str(stats.error_count)])
    if stats.first:
        rows += [["first", stats.first], ["last", stats.last or ""]]
    d = stats.durations
    # duration  PATH|all  count  avg  p50  p95  p99  max
    rows.append(
        ["duration", "all", str(d.count), *(_ms(v) for v in (d.avg, d.p50, d.p95, d.p99, d.max))]
    )
    for pd in stats.slowest_paths:
        v = pd.durations
        rows.append(
            [
                "duration",
                pd.path,
                str(v.count),
                *(_ms(x) for x in (v.avg, v.p50, v.p95, v.p99, v.max)),
            ]
        )
    rows += [["method", m, str(n)] for m, n in stats.by_method.items()]
    rows += [["status_class", c, str(n)] for c, n in stats.by_status_class.items()]
    rows += [["status", str(code), str(n)] for code, n in stats.by_status.items()]
    rows += [["path", p, str(n)] for p, n in stats.top_paths]
    rows += [["tunnel", t.tunnel, str(t.requests), str(t.errors)] for t in stats.by_tunnel]
    for r in stats.recent_errors:
        code = "-" if r.status_code is None else str(r.status_code)
        row = ["error", r.start.isoformat(), code, r.method, r.path, r.id]
        rows.append([*row, escape.field(r.error)] if r.error else row)  # why it broke off
    return "".join("\t".join(row) + "\n" for row in rows)


def stats_renderable(stats: Stats) -> RenderableType:
    """All the stats tables, stacked; empty sets say so in one line."""
    if stats.total == 0:
        return Text("No captured requests match.")
    parts: list[RenderableType] = []

    summary = _table("Summary", "", "", right=(1,))
    summary.show_header = False
    summary.add_row("requests", str(stats.total))
    if stats.pending:
        summary.add_row("pending", str(stats.pending))
    if stats.failed:
        summary.add_row("failed", str(stats.failed))
    summary.add_row("errors", f"{stats.error_count} ({_pct(stats.error_count, stats.total)})")
    if stats.first:
        summary.add_row("first", stats.first)
        summary.add_row("last", stats.last or "")
    parts.append(summary)

    durations = _table(
        "Duration", "", "count", "avg", "p50", "p95", "p99", "max", right=(1, 2, 3, 4, 5, 6)
    )
    durations.add_row("all", str(stats.durations.count), *_dur_cells(stats.durations))
    for pd in stats.slowest_paths:
        durations.add_row(_cell(pd.path), str(pd.durations.count), *_dur_cells(pd.durations))
    parts.append(durations)

    methods = _table("By method", "method", "count", "share", right=(1, 2))
    for m, n in stats.by_method.items():
        methods.add_row(_cell(m), str(n), _pct(n, stats.total))
    parts.append(methods)

    classes = _table("By status", "status", "count", "share", right=(1, 2))
    for c, n in stats.by_status_class.items():
        classes.add_row(Text(c, style="bold"), str(n), _pct(n, stats.total))
        for code, k in stats.by_status.items():
            if f"{code // 100}xx" == c:
                classes.add_row(
                    Text(f"  {code}", style=status_style(code)), str(k), _pct(k, stats.total)
                )
    parts.append(classes)

    paths = _table(f"Top paths (top {stats.top})", "path", "count", "share", right=(1, 2))
    for p, n in stats.top_paths:
        paths.add_row(_cell(p), str(n), _pct(n, stats.total))
    parts.append(paths)

    tunnels = _table("By tunnel", "tunnel", "requests", "errors", right=(1, 2))
    for t in stats.by_tunnel:
        tunnels.add_row(_cell(t.tunnel), str(t.requests), str(t.errors))
    parts.append(tunnels)

    if stats.recent_errors:
        causes = any(r.error for r in stats.recent_errors)
        columns = ("time", "status", "method", "path", "id") + (("cause",) if causes else ())
        errors = _table("Recent errors", *columns)
        # time, status, method and id never wrap (an id must stay copyable); the path folds
        for i in (0, 1, 2, 4):
            errors.columns[i].no_wrap = True
            errors.columns[i].overflow = "ignore"
        errors.columns[4].min_width = max((len(r.id) for r in stats.recent_errors), default=4)
        for r in stats.recent_errors:
            errors.add_row(
                r.start.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
                Text(status_text(r), style=status_style(r.status_code, failed=r.failed)),
                _cell(r.method),
                _cell(r.path),
                _cell(r.id),
                *((_cell(r.error or ""),) if causes else ()),
            )
        parts.append(errors)
    return Group(*parts)
