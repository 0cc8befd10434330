"""``ngrok-inspect stats``: counts, top paths, errors and durations over the filtered set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ngrok_inspect.cli.app import app, state
from ngrok_inspect.cli.options import (
    DbOpt,
    with_filters,
)
from ngrok_inspect.cli.output import OutputMode
from ngrok_inspect.filters import RequestFilter

if TYPE_CHECKING:
    from rich.console import RenderableType


def run_stats(flt: RequestFilter, *, top: int, as_json: bool, db: str | None = None) -> None:
    """Fetch everything the agent (or the archive ``db``) holds, filter, compute and print
    the figures."""
    from ngrok_inspect.cli.output import Output
    from ngrok_inspect.stats import compute_stats

    out = Output.open(json=as_json)
    st = state()
    if db is not None:
        from ngrok_inspect.archive import ArchiveSource

        with ArchiveSource(db) as source:
            matched = source.query(flt)
    else:
        with st.client() as client:
            reqs = client.list_requests(limit=1_000_000, tunnel_name=flt.agent_tunnel_param())
        matched = flt.apply(reqs)
    stats = compute_stats(matched, top=top)
    if stats.total == 0 and out.mode is not OutputMode.JSON:
        matching = "" if flt.is_empty else f" matching {flt.describe()}"
        out.notice(
            "No captured requests{} at {}", matching, db if db is not None else st.settings.api_url
        )
        return

    def table(width: int) -> RenderableType:
        from ngrok_inspect.render.stats import stats_renderable

        return stats_renderable(stats)

    def plain() -> str:
        from ngrok_inspect.render.stats import stats_plain

        return stats_plain(stats)

    out.view(json=stats.to_dict, table=table, plain=plain, crop=False)


@app.command(
    "stats",
    epilog="Examples:\n\n"
    "  ngrok-inspect stats --since 1h --top 5\n\n"
    "  ngrok-inspect stats --tunnel web --json | jq .duration",
)
@with_filters
def stats_command(
    flt: RequestFilter,
    top: Annotated[
        int,
        typer.Option(
            "--top", min=1, metavar="N", help="How many paths, slow paths and errors to list."
        ),
    ] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    db: DbOpt = None,
) -> None:
    """Counts by method, status and path, per tunnel; errors; durations (avg/p50/p95/p99/max)."""
    run_stats(
        flt,
        top=top,
        as_json=as_json,
        db=db,
    )
