"""Views of the agent's status and tunnels (``ngrok-inspect status``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ngrok_inspect import escape
from ngrok_inspect.render.text import choose_columns, duration_text, fit_cell, fit_widths

if TYPE_CHECKING:
    from rich.console import RenderableType

    from ngrok_inspect.models import AgentStatus, Tunnel

TUNNEL_COLUMNS = ("NAME", "PUBLIC URL", "UPSTREAM", "PROTO", "INSPECT", "SERVED", "P50", "P99")
# SERVED is the agent's own counter (since it started); what it holds now is the Held line


def status_dict(
    api_url: str, status: AgentStatus, tunnels: list[Tunnel], held: int
) -> dict[str, Any]:
    """The ``status --json`` document (``requests_held``: captures the agent holds now;
    each tunnel's metrics count since the agent started)."""
    return {
        "api_url": api_url,
        "status": status.status,
        "agent_version": status.agent_version,
        "requests_held": held,
        "tunnels": [t.to_dict() for t in tunnels],
    }


def _tunnel_row(t: Tunnel) -> list[str]:
    m = t.metrics_http
    return [
        escape.field(t.name),
        escape.field(t.public_url),
        escape.field(t.addr or "-"),
        escape.field(t.proto),
        "on" if t.inspect else "off",
        str(m.count),
        # with no traffic the agent reports 0 for its percentiles: there is no figure
        duration_text(m.p50_ms if m.count else None),
        duration_text(m.p99_ms if m.count else None),
    ]


def _head(api_url: str, status: AgentStatus, held: int) -> list[tuple[str, str]]:
    return [
        ("Agent", escape.field(api_url)),
        ("Status", escape.field(status.status)),
        ("Version", escape.field(status.agent_version or "unknown (2.x agent)")),
        ("Held", f"{held} captured requests now (SERVED: since the agent started)"),
    ]


def status_plain(api_url: str, status: AgentStatus, tunnels: list[Tunnel], held: int) -> str:
    """Plain text: four key lines, then one tab-separated line per tunnel under a header."""
    lines = [f"{k + ':':<9}{v}" for k, v in _head(api_url, status, held)]
    lines.append("")
    if tunnels:
        lines.append("\t".join(TUNNEL_COLUMNS))
        lines.extend("\t".join(_tunnel_row(t)) for t in tunnels)
    else:
        lines.append("no tunnels")
    return "\n".join(lines) + "\n"


def status_renderable(
    api_url: str, status: AgentStatus, tunnels: list[Tunnel], held: int, *, width: int = 120
) -> RenderableType:
    """Key/value grid and a tunnels table (p50/p99 in ms)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for k, v in _head(api_url, status, held):
        style = ("green" if v == "online" else "yellow") if k == "Status" else ""
        grid.add_row(k, Text(v, style=style))
    if not tunnels:
        return Group(grid, Text(""), Text("no tunnels", style="dim"))
    all_rows = [_tunnel_row(t) for t in tunnels]
    all_titles = [n + (" ms" if n in ("P50", "P99") else "") for n in TUNNEL_COLUMNS]
    natural = [max([len(t), *(len(r[i]) for r in all_rows)]) for i, t in enumerate(all_titles)]
    # the upstream is what tells tunnels apart: drop INSPECT and PROTO before cutting it
    keep = choose_columns(
        list(TUNNEL_COLUMNS),
        natural,
        "UPSTREAM",
        width,
        ["INSPECT", "PROTO", "P50"],
        flex_want=natural[TUNNEL_COLUMNS.index("UPSTREAM")],
    )
    names = [TUNNEL_COLUMNS[i] for i in keep]
    titles = [all_titles[i] for i in keep]
    rows = [[r[i] for i in keep] for r in all_rows]
    widths = fit_widths([natural[i] for i in keep], names.index("UPSTREAM"), width)
    right = [n in ("SERVED", "P50", "P99") for n in names]
    table = Text(no_wrap=True, overflow="ellipsis")
    cols = list(zip(titles, widths, right, strict=True))
    table.append(
        "  ".join(fit_cell(t, w, right=r) for t, w, r in cols).rstrip() + "\n", style="bold"
    )
    for row in rows:
        line = "  ".join(fit_cell(c, w, right=r) for c, (_, w, r) in zip(row, cols, strict=True))
        table.append(line.rstrip() + "\n")
    table.rstrip()
    return Group(grid, Text(""), table)
