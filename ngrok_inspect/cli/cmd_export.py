"""``ngrok-inspect export``: captured requests as json, ndjson, raw, HAR 1.2 or curl."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ngrok_inspect.cli import completion
from ngrok_inspect.cli.app import app, state
from ngrok_inspect.cli.options import DbOpt, OptionalLimitOpt, with_filters
from ngrok_inspect.export import FORMAT_SPECS, FORMATS
from ngrok_inspect.filters import RequestFilter


@app.command(
    "export",
    epilog="Examples:\n\n"
    "  ngrok-inspect export --format har -o traffic.har\n\n"
    "  ngrok-inspect export --format curl --path '/webhook*' --limit 1 | sh\n\n"
    "  ngrok-inspect export --format ndjson --errors | jq -c '{id, status_code, uri}'\n\n"
    "  ngrok-inspect export --format raw --no-redact -o dump.json --force\n\n"
    "  ngrok-inspect export --db captures.sqlite --since 1d --format har -o day.har",
)
@with_filters
def export_command(
    flt: RequestFilter,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-F",
            metavar="|".join(FORMATS),
            autocompletion=completion.export_formats,
            help=" · ".join(f"{f.name}: {f.description}" for f in FORMAT_SPECS)
            + " (case-insensitive).",
        ),
    ] = "json",
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
            help="Keep every secret (by default the values of secret headers, query "
            "parameters and body fields read [REDACTED]; see docs/export.md).",
        ),
    ] = False,
    redact_names: Annotated[
        list[str] | None,
        typer.Option(
            "--redact",
            metavar="NAME",
            help="Also redact header, query parameter or body field NAME (repeatable).",
        ),
    ] = None,
    limit: OptionalLimitOpt = None,
    db: DbOpt = None,
) -> None:
    """Export captured requests (everything the agent holds, or what the filters keep).

    Secret header, query and body values are redacted in every format, raw bytes included,
    unless you pass --no-redact. json, ndjson and raw list newest first; har and curl oldest
    first.
    """
    from ngrok_inspect.atomicio import write_atomic
    from ngrok_inspect.cli.cmd_requests import fetch_requests
    from ngrok_inspect.cli.output import Output
    from ngrok_inspect.errors import UsageError
    from ngrok_inspect.export import export, get_format
    from ngrok_inspect.redaction import RedactionPolicy

    out = Output.open()  # the format decides the bytes; the seam writes them and the messages
    if no_redact and redact_names:
        raise UsageError("--redact and --no-redact exclude each other", hint="Give one of them")
    spec = get_format(fmt)
    st = state()
    public_urls = None
    if db is not None:
        from ngrok_inspect.archive import ArchiveSource

        with ArchiveSource(db) as source:  # URLs from the Host header: the tunnel may be gone
            reqs = source.query(flt, limit)
    else:
        with st.client() as client:
            reqs = fetch_requests(client, flt, limit)
            if spec.needs_public_urls and reqs:
                public_urls = {t.name: t.public_url for t in client.tunnels() if t.public_url}
    policy = RedactionPolicy.with_names(redact_names or [])
    result = export(reqs, spec.name, redact=not no_redact, policy=policy, public_urls=public_urls)
    what = f"{len(reqs)} request{'s' if len(reqs) != 1 else ''}"
    if not reqs:
        where = f"in {db}" if db is not None else f"at {st.settings.api_url}"
        out.notice("No captured requests ({}) {}", flt.describe(), where)
    if result.undecodable:
        out.warn(
            f"{len(result.undecodable)} request(s) had raw bytes that are not valid "
            "base64 ({}): exported without them (raw: null, body unknown)",
            ", ".join(result.undecodable[:5]),
        )
    if no_redact:
        redaction = "not redacted"
    else:
        redaction = f"{result.redacted} value{'s' if result.redacted != 1 else ''} redacted"
    if output_file is None or str(output_file) == "-":
        out.exact(result.text)
        if reqs:
            out.notice(f"Exported {what} ({spec.name}, {redaction})")
        return
    write_atomic(output_file, result.text, force=force)
    out.notice(f"Exported {what} ({spec.name}, {redaction}) to {{}}", output_file)
