"""``ngrok-inspect verify``: check the webhook signatures of captured requests."""

from __future__ import annotations

from typing import Annotated

import typer

from ngrok_inspect.cli import completion
from ngrok_inspect.cli.app import app, state
from ngrok_inspect.cli.options import DbOpt, JsonOpt, with_filters
from ngrok_inspect.errors import ConditionNotMetError
from ngrok_inspect.filters import RequestFilter


@app.command(
    "verify",
    epilog="Examples:\n\n"
    "  ngrok-inspect verify last --secret-env STRIPE_WEBHOOK_SECRET\n\n"
    "  ngrok-inspect verify --path /webhooks/github --provider github --secret-file .gh-secret\n\n"
    "  ngrok-inspect verify --since 1h --secret-env SECRET --json\n"
    "    | jq -r '.[] | select(.status != \"valid\") | .id'\n\n"
    "  ngrok-inspect verify --db hooks.sqlite --since 1d --secret-env STRIPE_WEBHOOK_SECRET",
)
@with_filters
def verify_command(
    flt: RequestFilter,
    ids: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[ID]...",
            help="Ids, unique prefixes or 'last' (default: every match).",
            autocompletion=completion.request_ids,
        ),
    ] = None,
    provider: Annotated[
        str,
        typer.Option(
            "--provider",
            metavar="NAME",
            help="stripe, github, slack, standard (svix), shopify, twilio, gitlab, or auto.",
        ),
    ] = "auto",
    secret: Annotated[
        str | None,
        typer.Option("--secret", metavar="S", help="The signing secret (prefer --secret-env)."),
    ] = None,
    secret_env: Annotated[
        str | None,
        typer.Option("--secret-env", metavar="VAR", help="Read the secret from this variable."),
    ] = None,
    secret_file: Annotated[
        str | None,
        typer.Option("--secret-file", metavar="FILE", help="Read the secret from this file."),
    ] = None,
    now: Annotated[
        bool, typer.Option("--now", help="Judge timestamps against the current clock, not arrival.")
    ] = False,
    url: Annotated[
        str | None,
        typer.Option(
            "--url", metavar="URL", help="The public URL the provider called (Twilio signs it)."
        ),
    ] = None,
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """Check webhook signatures: valid, invalid (and why), stale, unsigned; judged at each
    request's arrival unless --now. Exit 0 when every checked request is valid, else 6."""
    from datetime import datetime, timezone

    from ngrok_inspect.cli.cmd_requests import fetch_requests
    from ngrok_inspect.cli.output import Output
    from ngrok_inspect.render.verify import verify_plain
    from ngrok_inspect.webhooks.checking import check_all
    from ngrok_inspect.webhooks.secrets import read_secret

    out = Output.open(json=as_json)
    key = read_secret(secret, secret_env, secret_file)
    st = state()
    if db is not None:
        from ngrok_inspect.archive import ArchiveSource

        with ArchiveSource(db) as source:
            if ids:
                reqs = [source.get_request(source.resolve_id(i)) for i in ids]
            else:
                reqs = list(reversed(source.query(flt)))  # oldest first
    else:
        with st.client() as client:
            if ids:
                reqs = [client.get_request(client.resolve_id(i)) for i in ids]
            else:
                reqs = list(reversed(fetch_requests(client, flt, None)))  # oldest first
    if ids and not flt.is_empty:
        reqs = flt.apply(reqs)
    clock = datetime.now(timezone.utc) if now else None
    checked = check_all(reqs, provider, key, now=clock, url=url)
    out.view(
        json=lambda: [c.to_dict() for c in checked],
        plain=(lambda: verify_plain(checked)) if checked else None,  # on a terminal too
    )
    if not checked:
        out.notice(
            "No captured requests to verify {}",
            f"in {db}" if db is not None else f"at {st.settings.api_url}",
        )
        return
    bad = [c for c in checked if not c.result.ok]
    if bad:
        raise ConditionNotMetError(
            f"{len(bad)} of {len(checked)} checked requests are not validly signed",
            hint=(
                "See the reason column; re-sign with 'replay ID --resign PROVIDER --secret-env VAR'"
            ),
        )
