"""``ngrok-inspect record --db FILE``: follow the agent and store every completed capture."""

from __future__ import annotations

from typing import Annotated

import typer

from ngrok_inspect.cli.app import app, state
from ngrok_inspect.cli.options import JsonOpt, with_filters
from ngrok_inspect.cli.output import Output
from ngrok_inspect.filters import RequestFilter


@app.command(
    "record",
    epilog="Examples:\n\n"
    "  ngrok-inspect record --db captures.sqlite\n\n"
    "  ngrok-inspect record --db hooks.sqlite --path '/webhook*' --retain 7d\n\n"
    "  sqlite3 captures.sqlite 'SELECT method, path, status FROM captures LIMIT 5'",
)
@with_filters
def record_command(
    flt: RequestFilter,
    db: Annotated[
        str, typer.Option("--db", metavar="FILE", help="The archive file (created if missing).")
    ],
    count: Annotated[
        int | None, typer.Option("--count", min=1, metavar="N", help="Stop after N stored.")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0, metavar="SECONDS", help="Stop after this long."),
    ] = None,
    retain: Annotated[
        str | None,
        typer.Option("--retain", metavar="AGE", help="Delete captures older than this (7d, 12h)."),
    ] = None,
    max_size: Annotated[
        int | None,
        typer.Option("--max-size", min=1, metavar="BYTES", help="Keep the newest that fit."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="One line per stored capture (stderr).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Store every completed capture the agent holds and receives, each id once: what it
    holds now, then new ones as they complete (survives agent restarts and 'clear').
    A second run into the same file adds only what is new. Stops on Ctrl-C, --count,
    --timeout."""
    from ngrok_inspect.archive import ArchiveWriter
    from ngrok_inspect.filters import parse_duration
    from ngrok_inspect.render.monitor import notice_line
    from ngrok_inspect.watch import follow_batches

    out = Output.open(ndjson=as_json)
    st = state()
    retain_s = None if retain is None else parse_duration(retain, "--retain")
    source = st.settings.api_url
    stored = 0
    live = out.progress_live() and not verbose
    with ArchiveWriter(db) as writer, st.client() as client:
        if retain_s is not None or max_size is not None:
            writer.prune(retain=retain_s, max_size=max_size)
        # what one poll brought is stored in one transaction: at full load a commit per
        # capture was a third of the time, and 'record' fell behind the agent
        for events in follow_batches(client, flt, timeout=timeout, include_existing=True):
            reqs = []
            for event in events:
                if event.kind != "request" or event.request is None:
                    out.notice(notice_line(event))
                    continue
                reqs.append(event.request)
            left = None if count is None else count - stored
            for req in writer.add_new(reqs, source, limit=left):
                stored += 1
                if as_json:
                    out.record(req)
                if verbose:
                    out.notice(
                        "stored {} {} {} {}", req.id, req.method, req.request.uri, req.status_code
                    )
                elif live:
                    out.progress(f"stored {stored}")
            if count is not None and stored >= count:
                break
    if live:
        out.end_progress()
    out.notice(f"{stored} new capture{'s' if stored != 1 else ''} stored in {{}}", db)
