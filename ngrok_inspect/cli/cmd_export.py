"""``ngrok-inspect export``: captured requests as json, ndjson, raw, HAR 1.2 or curl."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ngrok_inspect.cli.app import app, state
from ngrok_inspect.cli.options import OptionalLimitOpt, with_filters
from ngrok_inspect.filters import RequestFilter


class ExportFormat(str, Enum):
    """The ``--format`` choices (see :data:`ngrok_inspect.exporting.FORMATS`)."""

    json = "json"
    ndjson = "ndjson"
    har = "har"
    curl = "curl"
    raw = "raw"


@app.command(
    "export",
    epilog="Examples:\n\n"
    "  ngrok-inspect export --format har -o traffic.har\n\n"
    "  ngrok-inspect export --format curl --path '/webhook*' --limit 1 | sh\n\n"
    "  ngrok-inspect export --format ndjson --errors | jq -c '{id, status_code, uri}'\n\n"
    "  ngrok-inspect export --format raw --no-redact -o dump.json --force",
)
@with_filters
def export_command(
    flt: RequestFilter,
    fmt: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            "-F",
            help="json: JSON records · ndjson: one record per line · raw: the agent's "
            "objects as served · har: HAR 1.2 · curl: one curl command per request.",
        ),
    ] = ExportFormat.json,
    output_file: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            dir_okay=False,
            help="Write to FILE atomically (all or nothing) instead of stdout ('-': stdout).",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE when it exists.")] = False,
    no_redact: Annotated[
        bool,
        typer.Option(
            "--no-redact",
            help="Keep the values of Authorization, Proxy-Authorization, Cookie, Set-Cookie, "
            "X-Api-Key and *-Signature headers (replaced by [REDACTED] by default).",
        ),
    ] = False,
    limit: OptionalLimitOpt = None,
) -> None:
    """Export captured requests (everything the agent holds, or what the filters keep).

    Secret header values are redacted in every format, raw wire bytes included, unless you
    pass --no-redact. json, ndjson and raw list newest first; har and curl oldest first.
    """
    from ngrok_inspect.cli.cmd_requests import fetch_requests
    from ngrok_inspect.exporting import render_export, write_atomic
    from ngrok_inspect.render import output

    st = state()
    with st.client() as client:
        reqs = fetch_requests(client, flt, limit)
        public_urls = None
        if fmt in (ExportFormat.har, ExportFormat.curl) and reqs:
            public_urls = {t.name: t.public_url for t in client.tunnels() if t.public_url}
    text = render_export(reqs, fmt.value, redact=not no_redact, public_urls=public_urls)
    what = f"{len(reqs)} request{'s' if len(reqs) != 1 else ''}"
    if not reqs:
        output.notice(f"No captured requests ({flt.describe()}) at {st.settings.api_url}")
    if output_file is None or str(output_file) == "-":
        output.write(text)
        return
    write_atomic(output_file, text, force=force)
    output.notice(f"Exported {what} ({fmt.value}) to {output_file}")
