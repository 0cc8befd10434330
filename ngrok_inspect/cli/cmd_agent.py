"""``ngrok-inspect agent [UPSTREAM]``: a local capture agent serving the ngrok agent API.

aiohttp and the local agent are imported inside the command, so other commands never
load them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ngrok_inspect.cli.agent_banner import ReadyFile, note
from ngrok_inspect.cli.app import app, state
from ngrok_inspect.cli.output import Output
from ngrok_inspect.errors import NgrokInspectError, UsageError

if TYPE_CHECKING:
    from collections.abc import Callable

    from ngrok_inspect.archive.sink import ArchiveSink
    from ngrok_inspect.local_agent import LocalAgent
    from ngrok_inspect.local_agent.config import AgentConfig

WEB_ADDR_TRIES = 10  # 4040 ... 4049, as ngrok does


@app.command(
    "agent",
    epilog="Examples:\n\n"
    "  ngrok-inspect agent 8000\n\n"
    "  ngrok-inspect agent http://127.0.0.1:3000 --listen 127.0.0.1:8080 --quiet\n\n"
    "  ngrok-inspect agent --config ngrok.yml   (every HTTP tunnel of the file)\n\n"
    "  ngrok-inspect agent 8000 --db captures.sqlite   (captures kept across restarts)\n\n"
    "  ngrok-inspect agent   (a request bin: every request is answered 200)",
)
def agent_command(
    upstream: Annotated[
        str | None,
        typer.Argument(
            help="Where to forward: a port (8000), host:port or URL. Omit for a request bin "
            "that answers every request 200.",
            metavar="UPSTREAM",
            show_default=False,
        ),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="Tunnel name.")] = "command_line",
    listen: Annotated[
        str, typer.Option("--listen", help="Public side HOST:PORT (port 0: any free port).")
    ] = "127.0.0.1:0",
    web_addr: Annotated[
        str | None,
        typer.Option(
            "--web-addr",
            help="Agent API HOST:PORT (port 0: any free port). Default 127.0.0.1:4040 "
            "(or NGROK_INSPECT_WEB_ADDR), then the next 9 ports when taken.",
            show_default=False,
        ),
    ] = None,
    ready_file: Annotated[
        Path | None,
        typer.Option(
            "--ready-file",
            metavar="FILE",
            help="Once the API and tunnels listen, write NGROK_INSPECT_API_URL=… and "
            "NGROK_INSPECT_PUBLIC_URL=… to FILE (atomically; removed on exit) for a script "
            "to source.",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="ngrok.yml file(s) whose HTTP tunnels to start (comma-separated, later wins).",
            show_default=False,
        ),
    ] = None,
    capture_limit: Annotated[
        str, typer.Option("--capture-limit", help="Bytes of each body to keep (e.g. 10MiB).")
    ] = "10MiB",
    inspect_db_size: Annotated[
        str | None,
        typer.Option(
            "--inspect-db-size",
            help="Bytes of traffic to keep; the oldest is evicted first (default 50MB).",
            show_default=False,
        ),
    ] = None,
    upstream_timeout: Annotated[
        float,
        typer.Option(
            "--upstream-timeout", help="Seconds to wait for the upstream before 504.", min=0.01
        ),
    ] = 60.0,
    header_timeout: Annotated[
        float,
        typer.Option(
            "--header-timeout",
            help="Seconds a client has to send a request head (then 408 and closed).",
            min=0.01,
        ),
    ] = 10.0,
    body_timeout: Annotated[
        float,
        typer.Option(
            "--body-timeout",
            help="Seconds without a request-body byte before the request fails (408).",
            min=0.01,
        ),
    ] = 30.0,
    send_timeout: Annotated[
        float,
        typer.Option(
            "--send-timeout",
            help="Seconds an answer may wait for a client that does not read (then cut).",
            min=0.01,
        ),
    ] = 60.0,
    inflight_budget: Annotated[
        str,
        typer.Option(
            "--inflight-budget",
            help="Body bytes all captures still in flight may hold together (e.g. 64MiB).",
        ),
    ] = "64MiB",
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Do not print a line per request.")
    ] = False,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="FILE",
            help="Also store every completed capture in this SQLite archive (created if "
            "missing), so captures survive a restart.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Capture traffic to a local service and serve the ngrok agent API (like 'ngrok http').

    Every other command works against it: ngrok-inspect --api-url 4040 requests list.
    """
    from ngrok_inspect.local_agent import LocalAgent
    from ngrok_inspect.local_agent.config import parse_size
    from ngrok_inspect.settings import local_web_addr

    if state().debug:  # show aiohttp's per-request errors (with tracebacks) on stderr
        import logging

        logging.getLogger("ngrok_inspect.local_agent").addHandler(logging.StreamHandler())
    config = config or state().config
    cfg = _load_config(config, cli_tunnel=(upstream, listen, name)) if config else None
    specs = cfg.tunnels if cfg else None
    addr = web_addr or (cfg.web_addr if cfg else None)
    db_size = parse_size(inspect_db_size) if inspect_db_size is not None else None
    if db_size is None and cfg is not None:
        db_size = cfg.inspect_db_size
    printer = None if quiet else _RequestLine(multi=bool(specs and len(specs) > 1))
    ready = ReadyFile(ready_file)
    agent = LocalAgent(
        upstream,
        name=name,
        listen=listen,
        web_addr=addr or local_web_addr(),
        web_addr_tries=WEB_ADDR_TRIES if addr is None else 1,
        tunnels=specs,
        capture_limit=parse_size(capture_limit),
        inspect_db_size=db_size if db_size is not None else 50 * 1000**2,
        upstream_timeout=upstream_timeout,
        on_request=printer,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        send_timeout=send_timeout,
        inflight_budget=parse_size(inflight_budget),
        on_notice=note,
    )
    sink = _open_archive(db, source=lambda: agent.api_url) if db is not None else None
    if sink is not None:
        agent.add_capture_listener(sink)
    after_stop = None
    if sink is not None:
        archive = sink

        def after_stop() -> None:
            _close_archive(archive, dropped=agent.captures_dropped)

    notes = [f"Archive {db} (every completed capture is stored)"] if db is not None else []
    _run_until_signal(
        agent, wanted=addr or local_web_addr(), ready=ready, after_stop=after_stop, notes=notes
    )


def _open_archive(db: str, *, source: Callable[[], str]) -> ArchiveSink:
    """The archive that every completed capture goes to (ArchiveError, exit 2, at once)."""
    from ngrok_inspect.archive.sink import ArchiveSink

    def warn(exc: NgrokInspectError, count: int) -> None:
        note(f"Warning: {count} capture(s) not stored in {db}: {exc.message}")

    return ArchiveSink(db, source, on_error=warn).start()


def _close_archive(sink: ArchiveSink, *, dropped: int) -> None:
    """Store what is still queued; say how many captures the archive got."""
    sink.close()
    lost = sink.failed + dropped
    if sink.stored:
        plural = "" if sink.stored == 1 else "s"
        note(f"{sink.stored} new capture{plural} stored in {sink.path}")
    if lost:
        note(f"Warning: {lost} capture(s) could not be stored in {sink.path}")


def _load_config(config: str, *, cli_tunnel: tuple[str | None, str, str]) -> AgentConfig:
    """The HTTP tunnels of the ngrok config file(s); says what it skips or ignores."""
    from ngrok_inspect.local_agent.config import load_agent_config

    cfg = load_agent_config([Path(p.strip()) for p in config.split(",") if p.strip()])
    for skipped in cfg.skipped:
        note(f"Skipping tunnel {skipped}: the local agent serves HTTP tunnels only")
    if not cfg.tunnels:
        raise UsageError(
            f"no HTTP tunnels in {config}",
            hint="Define tunnels (version 2) or endpoints (version 3) with an upstream",
        )
    if cli_tunnel != (None, "127.0.0.1:0", "command_line"):
        note("Note: UPSTREAM, --listen and --name are ignored with --config")
    return cfg


class _RequestLine:
    """Prints one line per finished exchange on stdout, like ngrok's console."""

    def __init__(self, *, multi: bool) -> None:
        self.multi = multi
        self.out = Output.open()

    def __call__(self, summary: dict[str, Any]) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(summary["start"]))
        status = summary["status"] or "failed"  # no answer: the error says why
        tunnel = f"{summary['tunnel_name']}  " if self.multi else ""
        ms = summary["duration"] / 1e6
        line = f"{stamp}  {tunnel}{summary['method']:<7} {summary['uri']}  {status}  {ms:.1f} ms"
        why = summary.get("error") or summary.get("failure")  # a break, or why a 502/504
        if why:
            line += f"  ({why})"
        # escaped by the seam (method and URI are the stranger's); a closed stdout must not
        # stop the agent, whose thread this is
        self.out.line(line, best_effort=True)


def _run_until_signal(
    agent: LocalAgent,
    *,
    wanted: str,
    ready: ReadyFile,
    after_stop: Callable[[], None] | None = None,
    notes: list[str] | None = None,
) -> None:
    """Start the agent, print where it listens, serve until Ctrl-C or SIGTERM (exit 0).

    ``after_stop`` runs once the agent has stopped (also when it failed to start)."""
    from ngrok_inspect.cli.agent_banner import print_banner
    from ngrok_inspect.cli.signals import stop_requested

    with stop_requested() as stop:
        try:
            agent.start()
            print_banner(agent, wanted=wanted, notes=notes or [])
            ready.write(agent)
            note("Press Ctrl-C to stop.")  # last: whoever reads it may use the ready file
            while not stop.wait(0.5):
                pass
        finally:
            ready.close()
            agent.stop()
            if after_stop is not None:
                after_stop()
    note("Stopped.")
