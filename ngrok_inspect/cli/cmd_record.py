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
        str | None,
        typer.Option(
            "--max-size",
            metavar="SIZE",
            help="Keep the newest captures that fit (500MB, 1GiB, bytes).",
        ),
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
    from ngrok_inspect.archive import ArchiveError
    from ngrok_inspect.archive.background import BackgroundWriter
    from ngrok_inspect.archive.retention import Pruner, Retention
    from ngrok_inspect.cli.signals import stop_requested
    from ngrok_inspect.models import CapturedRequest
    from ngrok_inspect.render.monitor import notice_line
    from ngrok_inspect.watch import follow_batches

    retention = Retention.parse(retain, max_size)  # a bad value exits 2 before the file opens
    out = Output.open(ndjson=as_json)
    st = state()
    stored = 0
    live = out.progress_live() and not verbose
    interrupted = False

    def pruned(n: int) -> None:
        if n:
            out.notice(f"pruned {n} capture{'s' if n != 1 else ''} ({retention.describe()})")

    def report(new: list[CapturedRequest]) -> None:
        nonlocal stored
        for req in new:
            stored += 1
            if as_json:
                out.record(req)
            if verbose:
                out.notice(
                    "stored {} {} {} {}",
                    req.id, req.method, req.request.uri, req.status_code,
                )  # fmt: skip
            elif live:
                out.progress(f"stored {stored}")

    try:
        with BackgroundWriter(db) as writer, st.client() as client:
            pruner = Pruner(writer, retention)
            pruned(pruner.prune())
            # what one poll brought is stored in one transaction (a commit per capture was
            # a third of the time at full load), on the writer's thread while the next poll
            # runs; a busy agent is polled every 2 s: each poll reads the last second or
            # two again (ids of one second come in any order), fewer polls read less of it.
            # The local agent's cursor ends the re-read: there a poll that brought
            # something is followed by the next 0.1 s after it began (short listings)
            # Ctrl-C (or SIGTERM) stops the loop between two steps, not in the middle of
            # an NDJSON line: the batch in flight is written and reported, then exit 130;
            # a second one stops at once (a batch in flight is still written whole)
            with stop_requested(second_interrupts=True) as stop:
                batches = follow_batches(
                    client,
                    flt,
                    timeout=timeout,
                    include_existing=True,
                    busy_interval=2.0,
                    cursor_interval=0.1,
                    stop=stop,
                )
                for events in batches:
                    report(writer.collect())  # the last poll's batch, written meanwhile
                    reqs = []
                    for event in events:
                        if event.kind != "request" or event.request is None:
                            out.notice(notice_line(event))
                            continue
                        reqs.append(event.request)
                    if reqs:
                        left = None if count is None else count - stored
                        writer.submit(reqs, st.settings.api_url, limit=left)
                        if count is not None:  # this batch may reach the count: know now
                            report(writer.collect())
                    pruned(pruner.due())
                    if (count is not None and stored >= count) or stop.is_set():
                        break
                report(writer.collect())
                interrupted = stop.is_set()
            pruned(pruner.prune())
    except ArchiveError:
        if stored:  # what is in the file stays: say how much before the error line
            out.notice(f"{stored} new capture{'s' if stored != 1 else ''} stored in {{}}", db)
        raise
    finally:
        if live:
            out.end_progress()
    out.notice(f"{stored} new capture{'s' if stored != 1 else ''} stored in {{}}", db)
    if interrupted:
        raise KeyboardInterrupt  # exit 130, "Interrupted", like the other live commands
