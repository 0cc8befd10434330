"""``ngrok-inspect replay``: replay a captured request through the agent."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ngrok_inspect.cli import completion
from ngrok_inspect.cli.app import app, state
from ngrok_inspect.cli.options import ErrorsOpt, JsonOpt, SinceOpt, StatusOpt, WhereOpt
from ngrok_inspect.cli.replay_find import SCAN, find_replay
from ngrok_inspect.errors import UsageError

if TYPE_CHECKING:
    pass


@app.command(
    "replay",
    epilog="Examples:\n\n"
    "  ngrok-inspect replay last\n\n"
    "  ngrok-inspect replay airt_3Mk9 --tunnel staging --json | jq .status_code\n\n"
    "  ngrok-inspect replay last --db captures.sqlite --to http://localhost:8000",
)
def replay_command(
    request_id: Annotated[
        str | None,
        typer.Argument(
            metavar="[ID]",
            help="A full id, a unique prefix of one, or 'last'.",
            autocompletion=completion.request_ids,
        ),
    ] = None,
    tunnel: Annotated[
        str | None,
        typer.Option(
            "--tunnel",
            metavar="NAME",
            help="Replay through this tunnel instead.",
            autocompletion=completion.tunnel_names,
        ),
    ] = None,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return once the agent accepted the replay.")
    ] = False,
    as_json: JsonOpt = False,
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            metavar="M",
            help="Send with this method.",
            autocompletion=completion.methods,
        ),
    ] = None,
    path: Annotated[
        str | None,
        typer.Option("--path", metavar="/P?Q", help="Send to this target (path and query)."),
    ] = None,
    query: Annotated[
        list[str] | None,
        typer.Option("--query", metavar="K=V", help="Set a query parameter (repeatable)."),
    ] = None,
    query_del: Annotated[
        list[str] | None,
        typer.Option("--query-del", metavar="K", help="Remove a query parameter (repeatable)."),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option("-H", "--header", metavar="'NAME: VALUE'", help="Set a header (repeatable)."),
    ] = None,
    del_header: Annotated[
        list[str] | None,
        typer.Option("--del-header", metavar="NAME", help="Remove a header (repeatable)."),
    ] = None,
    body: Annotated[
        str | None,
        typer.Option("--body", metavar="TEXT|@FILE|-", help="Replace the body (- reads stdin)."),
    ] = None,
    json_set: Annotated[
        list[str] | None,
        typer.Option("--json-set", metavar="PATH=JSON", help="Set a.b[0] in a JSON body."),
    ] = None,
    form_set: Annotated[
        list[str] | None,
        typer.Option("--form-set", metavar="K=V", help="Set a field of a form body."),
    ] = None,
    edit: Annotated[
        bool, typer.Option("--edit", help="Edit the request in $VISUAL/$EDITOR first.")
    ] = False,
    to: Annotated[
        str | None,
        typer.Option("--to", metavar="URL", help="Send straight to this URL, not the tunnel."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be sent; send nothing.")
    ] = False,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="http|json|curl",
            help="With --dry-run: how to print it.",
            autocompletion=completion.dry_run_formats,
        ),
    ] = "http",
    resign: Annotated[
        str | None,
        typer.Option("--resign", metavar="PROVIDER", help="Recompute the webhook signature."),
    ] = None,
    secret: Annotated[
        str | None, typer.Option("--secret", metavar="S", help="The signing secret for --resign.")
    ] = None,
    secret_env: Annotated[
        str | None, typer.Option("--secret-env", metavar="VAR", help="Read it from $VAR.")
    ] = None,
    secret_file: Annotated[
        str | None, typer.Option("--secret-file", metavar="FILE", help="Read it from FILE.")
    ] = None,
    sign_url: Annotated[
        str | None,
        typer.Option(
            "--url", metavar="URL", help="With --resign twilio: the URL the receiver is called at."
        ),
    ] = None,
    show_response: Annotated[
        bool, typer.Option("--show-response", help="Print the answer's headers and body too.")
    ] = False,
    replay_all: Annotated[
        bool, typer.Option("--all", help="Replay every match of the filters, oldest first.")
    ] = False,
    where: WhereOpt = None,
    status: StatusOpt = None,
    since: SinceOpt = None,
    errors: ErrorsOpt = False,
    delay: Annotated[
        float, typer.Option("--delay", min=0, metavar="SECONDS", help="With --all: pause between.")
    ] = 0.0,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", help="With --all: stop at the first failure.")
    ] = False,
    expect_status: Annotated[
        str | None,
        typer.Option("--expect-status", metavar="2xx", help="With --all: exit 6 unless all match."),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="FILE",
            help="Replay a capture of this archive: to --to URL, or through the agent's tunnel.",
        ),
    ] = None,
) -> None:
    """Replay a request through the agent, then print the new entry's id, status and
    duration (--json: its record). Waits up to --timeout seconds for it. With edits,
    --to, --resign, --dry-run or --db the request is sent by ngrok-inspect itself: through
    the tunnel's public URL (so it is captured) or to --to URL. See docs/replay.md."""
    from ngrok_inspect.cli.output import Output, OutputMode
    from ngrok_inspect.cli.replay_edit import EditArgs, run_edited

    st = state()

    args = EditArgs(
        method=method,
        path=path,
        query=query or [],
        query_del=query_del or [],
        header=header or [],
        del_header=del_header or [],
        body=body,
        json_set=json_set or [],
        form_set=form_set or [],
        edit=edit,
        to=to,
        dry_run=dry_run,
        resign=resign,
        secret=secret,
        secret_env=secret_env,
        secret_file=secret_file,
        show_response=show_response,
        format=fmt,
        sign_url=sign_url,
    )
    if fmt not in ("http", "json", "curl"):
        raise UsageError(f"unknown --format {fmt!r}", hint="Use http, json or curl")
    if fmt != "http" and not dry_run:
        raise UsageError("--format is for --dry-run", hint="Add --dry-run")
    if replay_all:
        if request_id is not None:
            raise UsageError("give an ID or --all, not both", hint="Select with --where instead")
        from ngrok_inspect.cli.replay_all import replay_all_command

        replay_all_command(
            args, tunnel=tunnel, no_wait=no_wait, as_json=as_json, where=where, status=status,
            since=since, errors=errors, delay=delay, fail_fast=fail_fast,
            expect_status=expect_status, db=db,
        )  # fmt: skip
        return
    if request_id is None:
        raise UsageError("replay needs an ID (or --all)", hint="e.g. ngrok-inspect replay last")
    filtering = where is not None or status or since is not None or errors
    if filtering or delay or fail_fast or expect_status is not None:
        raise UsageError(
            "--where/--status/--since/--errors/--delay/--fail-fast/--expect-status need --all",
            hint="Add --all to replay every match",
        )
    if args.active or db is not None:  # the agent cannot replay an id it does not hold
        run_edited(request_id, args, tunnel=tunnel, no_wait=no_wait, as_json=as_json, db=db)
        return
    with st.client() as client:
        original = client.get_request(client.resolve_id(request_id))
        if tunnel is not None:
            client.tunnel(tunnel)  # exit 4 for an unknown tunnel, before replaying
        known = {r["id"] for r in client.list_requests_raw(limit=SCAN) if "id" in r}
        client.replay(original.id, tunnel_name=tunnel)
        if no_wait:
            Output.notice("Replay of {} accepted by {}", original.id, st.settings.api_url)
            return
        new = find_replay(client, original, known, st.settings.timeout)
    out = Output.open(json=as_json)
    if out.mode is OutputMode.JSON:
        out.document(new.to_dict())
        return
    from ngrok_inspect.render.text import duration_text, status_text

    shown = new.response.status if new.response is not None else status_text(new)
    out.row(new.id, shown, f"{duration_text(new.duration_ms)} ms")
