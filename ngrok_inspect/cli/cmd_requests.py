"""``ngrok-inspect requests list`` and ``requests show``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ngrok_inspect.cli import completion
from ngrok_inspect.cli.app import app, state
from ngrok_inspect.cli.options import (
    DbOpt,
    JsonOpt,
    LimitOpt,
    with_filters,
)
from ngrok_inspect.errors import NotFoundError, UsageError
from ngrok_inspect.filters import RequestFilter

if TYPE_CHECKING:
    from ngrok_inspect.client import AgentClient
    from ngrok_inspect.models import CapturedRequest

EVERYTHING = 1_000_000

requests_app = typer.Typer(
    name="requests",
    help="List and show the requests the agent captured.",
    no_args_is_help=True,
)
app.add_typer(requests_app, name="requests")


def fetch_requests(
    client: AgentClient, flt: RequestFilter, limit: int | None
) -> list[CapturedRequest]:
    """The newest ``limit`` captures matching ``flt`` (everything held when None).

    Without a filter the agent is asked for ``limit`` entries only; with one, everything
    it holds is fetched and filtered here (the agent matches tunnel names by substring).
    """
    only_tunnel = flt.is_empty
    if only_tunnel:
        return client.list_requests(limit=limit or EVERYTHING)
    reqs = flt.apply(client.list_requests(limit=EVERYTHING, tunnel_name=flt.agent_tunnel_param()))
    return reqs if limit is None else reqs[:limit]


@requests_app.command(
    "list",
    epilog="Examples:\n\n"
    "  ngrok-inspect requests list --tunnel web --errors\n\n"
    "  ngrok-inspect requests list --status 4xx,5xx --since 10m --json | jq -r '.[].uri'\n\n"
    "  ngrok-inspect requests list -q --method POST | xargs -n1 ngrok-inspect replay\n\n"
    "  ngrok-inspect requests list -f --path '/webhook*'",
)
@with_filters
def list_command(
    flt: RequestFilter,
    limit: LimitOpt = 50,
    as_json: JsonOpt = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print ids only, one per line (for xargs).")
    ] = False,
    follow: Annotated[
        bool,
        typer.Option("--follow", "-f", help="Keep running; print requests as they complete."),
    ] = False,
    count: Annotated[
        int | None,
        typer.Option("--count", min=1, metavar="N", help="With --follow: stop after N requests."),
    ] = None,
    db: DbOpt = None,
    redact: Annotated[
        bool,
        typer.Option(
            "--redact",
            help="With --json: secret header, query and body values read [REDACTED] "
            "(for pasting into an issue; docs/export.md).",
        ),
    ] = False,
) -> None:
    """Captured requests, newest first (id, time, tunnel, method, path, status, ms, size,
    client). An empty result is reported on stderr and exits 0."""
    from ngrok_inspect.render import output

    st = state()
    if count is not None and not follow:
        raise UsageError("--count needs --follow", hint="Use --limit N to list N requests")
    if redact and (not as_json or follow):
        raise UsageError("--redact needs --json (without --follow)", hint="Add --json")
    if db is not None:
        if follow:
            raise UsageError("--follow reads an agent, not --db", hint="Drop --db or --follow")
        from ngrok_inspect.archive import ArchiveSource

        with ArchiveSource(db) as source:
            reqs = source.query(flt, limit)
        if not reqs:
            matching = "" if flt.is_empty else f" matching {flt.describe()}"
            output.notice(f"No captured requests{matching} in {db}")
        if redact:
            reqs = _redacted(reqs)
        print_list(reqs, no_color=st.no_color, as_json=as_json, quiet=quiet)
        return
    if follow:
        from ngrok_inspect.cli.cmd_follow import run_follow

        with st.client() as client:
            run_follow(
                client, flt, as_json=as_json, count=count, timeout=None, no_color=st.no_color
            )
        return
    on_terminal = output.is_terminal() and not as_json and not quiet
    held: list[str] | None = None
    with st.client() as client:
        if on_terminal:
            # a person reads this: abbreviate ids against everything held (a prefix unique
            # on this page may not be across the history) and say when the list was cut
            everything = client.list_requests(limit=EVERYTHING)
            held = [r.id for r in everything]
            matching_all = flt.apply(everything)
            reqs = matching_all if limit is None else matching_all[:limit]
            total = len(matching_all)
        else:
            reqs = fetch_requests(client, flt, limit)
            total = len(reqs)
    if redact:
        reqs = _redacted(reqs)
    if not reqs:
        matching = "" if flt.is_empty else f" matching {flt.describe()}"
        output.notice(f"No captured requests{matching} at {st.settings.api_url}")
    print_list(reqs, no_color=st.no_color, as_json=as_json, quiet=quiet, held_ids=held)
    if on_terminal and total > len(reqs):
        output.notice(f"showing {len(reqs)} of {total} (use --limit)")


def print_list(
    reqs: list[CapturedRequest],
    *,
    no_color: bool,
    as_json: bool = False,
    quiet: bool = False,
    held_ids: list[str] | None = None,
) -> None:
    """Print requests as ``requests list`` does: JSON records, ids, a table on a terminal,
    or tab-separated lines when piped. Prints nothing for an empty list but ``[]`` with
    ``as_json``. On a terminal each id's shortest unique prefix (among ``held_ids``, else
    among ``reqs``) is emphasised."""
    from ngrok_inspect.render import output

    if as_json:
        records = [r.to_dict() for r in reqs]
        output.write_json(records)
    elif not reqs:
        return
    elif quiet:
        output.write("".join(r.id + "\n" for r in reqs))
    elif output.is_terminal():
        from ngrok_inspect.ids import unique_prefix_lengths
        from ngrok_inspect.render.requests import list_renderable

        prefixes = unique_prefix_lengths(held_ids if held_ids is not None else [r.id for r in reqs])
        console = output.make_console(no_color=no_color)
        table = list_renderable(reqs, width=console.width, prefixes=prefixes)
        console.print(table, crop=True, no_wrap=True, overflow="ellipsis")
    else:
        from ngrok_inspect.render.requests import list_plain

        output.write(list_plain(reqs))


def print_detail(
    req: CapturedRequest, public_urls: dict[str, str] | None = None, *, no_color: bool
) -> None:
    """Print one request as ``requests show`` does (rich on a terminal, plain text piped);
    ``public_urls`` (tunnel name -> public URL) completes the request's URL."""
    from ngrok_inspect.render import output

    if output.is_terminal():
        from ngrok_inspect.render.requests import detail_renderable

        output.make_console(no_color=no_color).print(detail_renderable(req, public_urls))
    else:
        from ngrok_inspect.render.requests import detail_plain

        output.write(detail_plain(req, public_urls))


@requests_app.command(
    "show",
    epilog="Examples:\n\n"
    "  ngrok-inspect requests show last\n\n"
    "  ngrok-inspect requests show airt_3Mk9 --body request | jq .event\n\n"
    "  ngrok-inspect requests show last --raw > exchange.http",
)
def show_command(
    request_id: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="A full id, a unique prefix of one, or 'last'.",
            autocompletion=completion.request_ids,
        ),
    ],
    raw: Annotated[
        bool, typer.Option("--raw", help="The exact bytes of request and response.")
    ] = False,
    body: Annotated[
        str | None,
        typer.Option(
            "--body",
            metavar="request|response",
            help="Only this decoded body, byte-exact (for | jq or > file).",
            autocompletion=completion.body_sides,
        ),
    ] = None,
    as_json: JsonOpt = False,
    db: DbOpt = None,
    redact: Annotated[
        bool,
        typer.Option(
            "--redact",
            help="With --json or --raw: secret header, query and body values read [REDACTED] "
            "(for pasting into an issue; docs/export.md).",
        ),
    ] = False,
) -> None:
    """One request in detail: summary, request headers and body, response headers and
    body (JSON pretty-printed, forms as a table, binary as a hex preview)."""
    from ngrok_inspect.render import output

    if sum([raw, body is not None, as_json]) > 1:
        raise UsageError("--raw, --body and --json exclude each other", hint="Give one of them")
    if redact and not (as_json or raw):
        raise UsageError(
            "--redact needs --json or --raw",
            hint="On your terminal show prints everything; add --json to paste it somewhere",
        )
    if body is not None and body not in ("request", "response"):
        raise UsageError(f"--body must be 'request' or 'response', not {body!r}")
    st = state()
    if db is not None:
        from ngrok_inspect.archive import ArchiveSource

        with ArchiveSource(db) as source:
            req = source.get_request(source.resolve_id(request_id))
        public_urls: dict[str, str] = {}
    else:
        with st.client() as client:
            req = client.get_request(client.resolve_id(request_id))
            public_urls = {} if (raw or body or as_json) else _public_urls(client)
    if redact:
        req = _redacted([req])[0]
    if as_json:
        output.write_json(req.to_dict())
    elif raw:
        from ngrok_inspect.render.requests import raw_exchange

        _write_exact(raw_exchange(req), "the raw exchange")
    elif body is not None:
        msg = req.request if body == "request" else req.response
        if msg is None:
            raise NotFoundError(
                f"request {req.id} has no response yet",
                hint="Wait for it to complete ('ngrok-inspect wait'), then ask again",
            )
        data = msg.body.data
        _write_exact(data, f"the {body} body")
        if data and not data.endswith(b"\n") and output.is_terminal():
            # the shell prompt must not land after the body; piped, the bytes stay exact
            output.write("\n")
    else:
        print_detail(req, public_urls, no_color=st.no_color)


def _write_exact(data: bytes, what: str) -> None:
    from ngrok_inspect.render import output

    try:
        output.write_exact(data, what=what)
    except output.BinaryToTerminalError as exc:
        raise UsageError(
            str(exc), hint="Send it to a file (> body.bin) or a pipe (| xxd, | jq)"
        ) from exc


def _redacted(reqs: list[CapturedRequest]) -> list[CapturedRequest]:
    """``reqs`` redacted by the export policy; the count goes to stderr."""
    from ngrok_inspect.redaction import redact_requests
    from ngrok_inspect.render import output

    done = redact_requests(reqs)
    output.notice(f"Redacted {done.count} value{'s' if done.count != 1 else ''}")
    return done.requests


def _public_urls(client: AgentClient) -> dict[str, str]:
    """Tunnel name -> public URL, or {} when the agent cannot say (not worth failing for)."""
    from ngrok_inspect.errors import NgrokInspectError

    try:
        return {t.name: t.public_url for t in client.tunnels()}
    except NgrokInspectError:
        return {}
