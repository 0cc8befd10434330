"""``ngrok-inspect stats``: counts, top paths, errors and durations over the filtered set."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ngrok_inspect.cli.app import app, state
from ngrok_inspect.cli.options import (
    DbOpt,
    with_filters,
)
from ngrok_inspect.filters import RequestFilter


def run_stats(flt: RequestFilter, *, top: int, as_json: bool, db: str | None = None) -> None:
    """Fetch everything the agent (or the archive ``db``) holds, filter, compute and print
    the figures."""
    from ngrok_inspect.stats import compute_stats

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
    if as_json:
        sys.stdout.write(json.dumps(stats.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return
    from ngrok_inspect.render.output import make_console
    from ngrok_inspect.render.stats import stats_renderable

    make_console(no_color=st.no_color).print(stats_renderable(stats))


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
