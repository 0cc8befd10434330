"""``ngrok-inspect stats``: counts, top paths, errors and durations over the filtered set."""

from __future__ import annotations

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
    from ngrok_inspect.render import output
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
        output.write_json(stats.to_dict())
        return
    if stats.total == 0:
        matching = "" if flt.is_empty else f" matching {flt.describe()}"
        where = db if db is not None else st.settings.api_url
        output.notice(f"No captured requests{matching} at {where}")
        return
    if output.is_terminal():
        from ngrok_inspect.render.stats import stats_renderable

        output.make_console(no_color=st.no_color).print(stats_renderable(stats))
    else:
        from ngrok_inspect.render.stats import stats_plain

        output.write(stats_plain(stats))


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
