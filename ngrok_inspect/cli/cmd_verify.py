"""``ngrok-inspect verify``: check the webhook signatures of captured requests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ngrok_inspect.cli import completion
from ngrok_inspect.cli.app import app, state
from ngrok_inspect.cli.options import DbOpt, JsonOpt, with_filters
from ngrok_inspect.errors import ConditionNotMetError
from ngrok_inspect.filters import RequestFilter

if TYPE_CHECKING:
    from ngrok_inspect.webhooks.checking import Checked


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
    from ngrok_inspect.render import output
    from ngrok_inspect.webhooks.checking import check_all
    from ngrok_inspect.webhooks.secrets import read_secret

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
    if as_json:
        output.write_json([c.to_dict() for c in checked])
    elif checked:
        output.write(render_table(checked))
    if not checked:
        where = f"in {db}" if db is not None else f"at {st.settings.api_url}"
        output.notice(f"No captured requests to verify {where}")
        return
    bad = [c for c in checked if not c.result.ok]
    if bad:
        raise ConditionNotMetError(
            f"{len(bad)} of {len(checked)} checked requests are not validly signed",
            hint=(
                "See the reason column; re-sign with 'replay ID --resign PROVIDER --secret-env VAR'"
            ),
        )


def render_table(checked: list[Checked]) -> str:
    from ngrok_inspect import escape
    from ngrok_inspect.render.text import time_text

    rows = [("ID", "TIME", "METHOD", "PATH", "PROVIDER", "RESULT", "AGE", "REASON")]
    for c in checked:
        r = c.result
        rows.append(
            (
                escape.field(c.request.id),
                time_text(c.request.start),
                escape.field(c.request.method),
                escape.field(c.request.path),
                r.provider or "-",
                r.status,
                "-" if r.age_s is None else f"{r.age_s:.0f}s",
                escape.field(r.reason or ""),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"
