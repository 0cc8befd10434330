"""``ngrok-inspect wait``: block until matching requests completed (CI's webhook barrier)."""

from __future__ import annotations

from typing import Annotated

import typer

from ngrok_inspect.cli.app import app, state
from ngrok_inspect.cli.options import with_filters
from ngrok_inspect.cli.output import Output
from ngrok_inspect.filters import RequestFilter, parse_duration
from ngrok_inspect.render.monitor import notice_line


def run_wait(
    flt: RequestFilter,
    *,
    count: int,
    timeout: float,
    include_existing: bool,
    expect_status: str | None,
    exec_command: str | None,
    as_json: bool,
) -> None:
    """Wait, then print the matches (NDJSON records with ``as_json``); raise on failure."""
    from ngrok_inspect.pipewatch import watch_reader
    from ngrok_inspect.watch import (
        UnexpectedStatusError,
        WaitStoppedError,
        WaitTimeoutError,
        wait_for,
    )

    st = state()
    out = Output.open(ndjson=as_json)
    noun = "request" if count == 1 else "requests"
    scope = "" if include_existing else " new"
    after = ", after running --exec" if exec_command else ""
    client = st.client()
    out.notice(
        f"Waiting up to {timeout:g}s for {count}{scope} {noun}"
        + ("" if flt.is_empty else f" matching {flt.describe()}")
        + f" at {client.describe()}"
        + after
        + "; wait --timeout is the whole wait, --api-timeout limits each agent call"
    )
    try:
        # ``wait | head``: the reader leaving ends the wait at once, exit 0 like a closed pipe
        with watch_reader() as reader_gone:
            matches = wait_for(
                client,
                flt,
                count=count,
                timeout=timeout,
                include_existing=include_existing,
                expect_status=expect_status,
                trigger=exec_command,
                on_event=lambda ev: None if ev.kind == "request" else out.notice(notice_line(ev)),
                stop=reader_gone,
            )
    except WaitStoppedError:
        return
    except UnexpectedStatusError as exc:
        out.record(exc.request)  # the issue: print the offending entry, then exit 6
        raise
    except WaitTimeoutError as exc:
        if exc.explanation:  # what arrived instead, above the error line
            out.notice(exc.explanation)
        raise
    finally:
        client.close()
    for req in matches:
        out.record(req)


@app.command(
    "wait",
    epilog="Examples:\n\n"
    "  ngrok-inspect wait --method POST --path /webhook --timeout 60s\n\n"
    "  ngrok-inspect wait --exec './send-webhook' --where 'req.json.ref == \"refs/heads/main\"'"
    " --expect-status 2xx --json > webhook.json\n\n"
    "  ngrok-inspect wait --count 3 --header 'X-GitHub-Event: push' --include-existing",
)
@with_filters
def wait_command(
    flt: RequestFilter,
    count: Annotated[
        int,
        typer.Option(
            "--count", "-n", min=1, metavar="N", help="How many matching requests to wait for."
        ),
    ] = 1,
    timeout: Annotated[
        str,
        typer.Option(
            "--timeout", "-t", metavar="DURATION", help="Give up after this long (30s, 2m, 90)."
        ),
    ] = "30s",
    include_existing: Annotated[
        bool,
        typer.Option(
            "--include-existing", help="Also count what the agent already held at the start."
        ),
    ] = False,
    expect_status: Annotated[
        str | None,
        typer.Option(
            "--expect-status",
            metavar="CODES",
            help="Fail (exit 6) if a matching request got another status (2xx, 200,204).",
        ),
    ] = None,
    exec_command: Annotated[
        str | None,
        typer.Option(
            "--exec",
            metavar="CMD",
            help="Shell command to run once the starting point is recorded (the trigger).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print NDJSON records.")] = False,
) -> None:
    """Wait until requests matching the filters have completed, then print them.

    Exit 0 when they came, 6 on timeout or an unexpected status.
    """
    run_wait(
        flt,
        count=count,
        timeout=parse_duration(timeout, "--timeout"),
        include_existing=include_existing,
        expect_status=expect_status,
        exec_command=exec_command,
        as_json=as_json,
    )
