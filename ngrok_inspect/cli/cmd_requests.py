"""``ngrok-inspect requests list`` and ``requests show``."""

# No ``from __future__ import annotations`` here: typer reads these annotations at every
# start, and a string annotation costs it an ``eval`` (84 on ``requests list``, ~3 ms).
# Names imported for type checking only are quoted.

from typing import TYPE_CHECKING, Annotated, ClassVar

import typer

from ngrok_inspect.cli import collector, completion
from ngrok_inspect.cli.app import app, state
from ngrok_inspect.cli.options import DbOpt, JsonOpt, LimitOpt, OptionalValueCommand, with_filters
from ngrok_inspect.cli.output import Output, OutputMode
from ngrok_inspect.errors import NotFoundError, UsageError
from ngrok_inspect.filters import RequestFilter

if TYPE_CHECKING:
    from ngrok_inspect.client import AgentClient
    from ngrok_inspect.models import CapturedRequest
    from ngrok_inspect.redaction import RedactionPolicy

EVERYTHING = 1_000_000

requests_app = typer.Typer(
    name="requests",
    help="List and show the requests the agent captured.",
    no_args_is_help=True,
)
app.add_typer(requests_app, name="requests")


def fetch_requests(
    client: "AgentClient", flt: RequestFilter, limit: int | None
) -> "list[CapturedRequest]":
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
    "  ngrok-inspect requests list -q --method POST | xargs -r -n1 ngrok-inspect replay\n\n"
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
    st = state()
    if count is not None and not follow:
        raise UsageError("--count needs --follow", hint="Use --limit N to list N requests")
    if redact and (not as_json or follow):
        raise UsageError("--redact needs --json (without --follow)", hint="Add --json")
    out = Output.open(json=as_json and not follow, ndjson=as_json and follow, quiet=quiet,
                      redact=_policy(redact))  # fmt: skip
    if db is not None:
        if follow:
            raise UsageError("--follow reads an agent, not --db", hint="Drop --db or --follow")
        from ngrok_inspect.archive import ArchiveSource

        with ArchiveSource(db) as source:
            reqs = source.query(flt, limit)
        if not reqs:
            matching = "" if flt.is_empty else f" matching {flt.describe()}"
            out.notice("No captured requests{} in {}", matching, db)
        out.records(reqs)
        return
    if follow:
        from ngrok_inspect.cli.cmd_follow import run_follow

        with st.client() as client:
            run_follow(client, flt, out, count=count, timeout=None)
        return
    on_terminal = out.mode is OutputMode.TABLE
    held: list[str] | None = None
    with collector.kept_to_the_end():  # the listing and its records live to the end
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
        if not reqs:
            matching = "" if flt.is_empty else f" matching {flt.describe()}"
            out.notice("No captured requests{} at {}", matching, st.settings.api_url)
        out.records(reqs, held_ids=held)
    if on_terminal and total > len(reqs):
        out.notice(f"showing {len(reqs)} of {total} (use --limit)")


def _policy(redact: bool) -> "RedactionPolicy | None":
    """``--redact``: the export policy (records leave the seam redacted), else None."""
    if not redact:
        return None
    from ngrok_inspect.redaction import DEFAULT_POLICY

    return DEFAULT_POLICY


RAW_SIDES = ("request", "response", "both")


class ShowCommand(OptionalValueCommand):
    """``requests show``: ``--raw`` alone is both messages."""

    optional_values: ClassVar[dict[str, tuple[tuple[str, ...], str]]] = {
        "--raw": (RAW_SIDES, "both")
    }


@requests_app.command(
    "show",
    epilog="Examples:\n\n"
    "  ngrok-inspect requests show last\n\n"
    "  ngrok-inspect requests show airt_3Mk9 --body request | jq .event\n\n"
    "  ngrok-inspect requests show last --raw > exchange.http\n\n"
    "  ngrok-inspect requests show last --raw response | head -20",
    cls=ShowCommand,
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
        str | None,
        typer.Option(
            "--raw",
            metavar="[request|response]",
            help="The captured bytes: of the request or the response alone (exact), or of "
            "both, a blank line between them.",
            autocompletion=completion.raw_sides,
        ),
    ] = None,
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
    if sum([raw is not None, body is not None, as_json]) > 1:
        raise UsageError("--raw, --body and --json exclude each other", hint="Give one of them")
    if redact and not (as_json or raw is not None):
        raise UsageError(
            "--redact needs --json or --raw",
            hint="On your terminal show prints everything; add --json to paste it somewhere",
        )
    if body is not None and body not in ("request", "response"):
        raise UsageError(f"--body must be 'request' or 'response', not {body!r}")
    if raw is not None and raw not in RAW_SIDES:
        raise UsageError(f"--raw takes 'request' or 'response' (or nothing), not {raw!r}")
    out = Output.open(json=as_json, redact=_policy(redact))
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
    side = body or (raw if raw in ("request", "response") else None)
    if side == "response" and req.failed:
        raise NotFoundError(
            f"request {req.id} has no response: the exchange failed ({req.error})",
            hint=f"'ngrok-inspect requests show {req.id}' shows what was captured",
        )
    if side == "response" and req.response is None:
        raise NotFoundError(
            f"request {req.id} has no response yet",
            hint="Wait for it to complete ('ngrok-inspect wait'), then ask again",
        )
    if raw is not None or body is not None:  # exit 5, not an empty exchange, on garbled bytes
        req.check_raw(*([side] if side else ["request", "response"]))
    if raw is not None:
        out.exchange(req, side)
    elif body is not None:
        msg = req.request if body == "request" else req.response
        assert msg is not None  # checked above
        if msg.body.truncated:
            from ngrok_inspect.render.text import truncated_note

            out.warn(truncated_note(f"the {body} body is a truncated capture", msg.body))
        out.raw_bytes(msg.body.data, what=f"the {body} body", newline_on_terminal=True)
    else:
        out.request(req, public_urls)


def _public_urls(client: "AgentClient") -> dict[str, str]:
    """Tunnel name -> public URL, or {} when the agent cannot say (not worth failing for)."""
    from ngrok_inspect.errors import NgrokInspectError

    try:
        return {t.name: t.public_url for t in client.tunnels()}
    except NgrokInspectError:
        return {}
