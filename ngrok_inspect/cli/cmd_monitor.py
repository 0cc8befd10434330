"""``ngrok-inspect monitor``: per-tunnel request rate and error ratio, with alerts."""

from __future__ import annotations

from typing import Annotated

import typer

from ngrok_inspect.cli.app import app, state
from ngrok_inspect.cli.options import (
    with_filters,
)
from ngrok_inspect.errors import ConditionNotMetError, UsageError
from ngrok_inspect.filters import RequestFilter, parse_duration


def parse_ratio(text: str) -> float:
    """``0.1`` or ``10%`` → 0.1; :class:`UsageError` outside 0..1."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise UsageError(
            f"invalid error rate {text!r}",
            hint="Give a ratio between 0 and 1 (0.05) or a percentage (5%)",
        )
    return value


def run_monitor(
    flt: RequestFilter,
    *,
    interval: float,
    max_rate: float | None,
    max_error_rate: float | None,
    exec_command: str | None,
    exit_on_alert: bool,
    as_json: bool,
    intervals: int | None = None,
    poll_interval: float | None = None,
    min_requests: int | None = None,
) -> None:
    """Print one line (or NDJSON object) per tunnel per interval; ALERT lines on stderr."""
    from ngrok_inspect.cli.output import Output, OutputMode
    from ngrok_inspect.pipewatch import watch_reader
    from ngrok_inspect.render.monitor import alert_line, interval_lines, notice_line
    from ngrok_inspect.watch import DEFAULT_MIN_REQUESTS, Monitor, run_alert_hook

    out = Output.open(ndjson=as_json)
    st = state()
    limits = [f"{max_rate:g} requests/min"] if max_rate is not None else []
    least = DEFAULT_MIN_REQUESTS if min_requests is None else min_requests
    if max_error_rate is not None:
        limits.append(f"{max_error_rate * 100:g}% errors (from {least} requests on)")
    # said at once: what is watched, and when the first figures come
    out.notice(
        f"Monitoring {'all tunnels' if flt.is_empty else flt.describe()}"
        f" at {st.settings.api_url}, every {interval:g}s"
        + (f"; alerts above {', '.join(limits)}" if limits else "")
        + f"; first figures in {interval:g}s; Ctrl-C stops"
    )
    # ``monitor | head``: the reader leaving ends the monitor at once (exit 0)
    with st.client() as client, watch_reader() as reader_gone:
        monitor = Monitor(
            client,
            flt,
            interval=interval,
            max_rate=max_rate,
            max_error_rate=max_error_rate,
            min_requests=least,
        )
        poll = poll_interval if poll_interval is not None else min(1.0, interval / 4)
        for report in monitor.run(poll_interval=poll, intervals=intervals, stop=reader_gone):
            if reader_gone.is_set():
                return
            for notice in report.notices:
                out.notice(notice_line(notice))
            if out.mode is OutputMode.NDJSON:
                out.objects(report.to_dicts())
            else:  # the same lines on a terminal and in a pipe
                out.text("".join(line + "\n" for line in interval_lines(report)))
            for alert in report.alerts:
                out.alert(alert_line(alert))
                if exec_command:
                    problem = run_alert_hook(exec_command, alert)
                    if problem:
                        out.warn("{}", problem)
            if report.alerts and exit_on_alert:
                first = report.alerts[0]
                raise ConditionNotMetError(
                    f"alert on tunnel {first.tunnel!r} ({first.metric} threshold crossed)",
                    hint="The ALERT line above has the figures; drop --exit-on-alert to go on",
                )


@app.command(
    "monitor",
    epilog="Examples:\n\n"
    "  ngrok-inspect monitor --interval 5m --max-error-rate 5%\n\n"
    "  ngrok-inspect monitor --max-rate 600 --exec 'notify-send \"ngrok alert\"'\n\n"
    "  ngrok-inspect monitor --tunnel web --json --exit-on-alert",
)
@with_filters
def monitor_command(
    flt: RequestFilter,
    interval: Annotated[
        str,
        typer.Option(
            "--interval", "-i", metavar="DURATION", help="Length of one interval (60s, 5m)."
        ),
    ] = "60s",
    max_rate: Annotated[
        float | None,
        typer.Option(
            "--max-rate", min=0, metavar="N", help="Alert above this many requests per minute."
        ),
    ] = None,
    max_error_rate: Annotated[
        str | None,
        typer.Option(
            "--max-error-rate", metavar="RATIO", help="Alert above this error ratio (0.05 or 5%)."
        ),
    ] = None,
    exec_command: Annotated[
        str | None,
        typer.Option(
            "--exec", metavar="CMD", help="Shell command run on each alert, alert JSON on stdin."
        ),
    ] = None,
    exit_on_alert: Annotated[
        bool, typer.Option("--exit-on-alert", help="Exit with code 6 at the first alert.")
    ] = False,
    min_requests: Annotated[
        int,
        typer.Option(
            "--min-requests",
            min=1,
            metavar="N",
            help="An error-rate alert needs at least N requests in the interval.",
        ),
    ] = 5,
    intervals: Annotated[
        int | None,
        typer.Option("--intervals", min=1, metavar="N", help="Stop after this many intervals."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print NDJSON objects.")] = False,
) -> None:
    """Every interval, print each tunnel's requests/min and error ratio; alert on thresholds."""
    seconds = parse_duration(interval, "--interval")
    if seconds <= 0:
        raise UsageError("--interval must be longer than 0s", hint="For example --interval 30s")
    run_monitor(
        flt,
        interval=seconds,
        max_rate=max_rate,
        max_error_rate=None if max_error_rate is None else parse_ratio(max_error_rate),
        exec_command=exec_command,
        exit_on_alert=exit_on_alert,
        as_json=as_json,
        intervals=intervals,
        min_requests=min_requests,
    )
