"""``ngrok-inspect import FILE --db DB``: HAR files and this tool's exports into an archive."""

from __future__ import annotations

from typing import Annotated

import typer

from ngrok_inspect.cli.app import app


@app.command(
    "import",
    epilog="Examples:\n\n"
    "  ngrok-inspect import traffic.har --db captures.sqlite\n\n"
    "  ngrok-inspect export --format ndjson | ngrok-inspect import - --db captures.sqlite\n\n"
    "  ngrok-inspect import colleague.har --db bug.sqlite --strict && "
    "ngrok-inspect requests list --db bug.sqlite",
)
def import_command(
    file: Annotated[
        str,
        typer.Argument(
            metavar="FILE",
            help="A HAR file (Chrome, Firefox, Safari, Charles, Insomnia, mitmproxy...) or an "
            "'ngrok-inspect export' json/ndjson/raw file; '-' reads stdin.",
        ),
    ],
    db: Annotated[
        str, typer.Option("--db", metavar="FILE", help="The archive (created if missing).")
    ],
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Store nothing (exit 6) when any entry is broken."),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the summary as JSON (the skipped entries and why, the first 1000).",
        ),
    ] = False,
) -> None:
    """Import captures into an archive, each with an id of its own and a raw message built
    from the file's fields. Broken entries are skipped and counted (the first reasons are
    shown); importing the same file again adds nothing. Read entry by entry (a large file
    needs no more memory than its largest entry), stored in one transaction: all or nothing."""
    import sys

    from ngrok_inspect.archive.importing import FIRST_REASONS, KEPT_REASONS, import_file
    from ngrok_inspect.cli.output import Output

    out = Output.open(json=as_json)
    live = out.progress_live()
    total = _size(file) if live else None
    shown = False

    def progress(entries: int, offset: int | None) -> None:
        nonlocal shown
        shown = True
        done = f", {min(offset * 100 // total, 100)} %" if total and offset is not None else ""
        out.progress(f"Importing {file}: {entries} entries read{done}")

    try:
        result = import_file(
            file,
            db,
            strict=strict,
            data=sys.stdin.buffer if file == "-" else None,
            progress=progress if live else None,
        )
    finally:
        if shown:
            out.end_progress()
    out.view(json=result.to_dict)
    parts = [f"{result.stored} new"]
    if result.duplicates:
        parts.append(f"{result.duplicates} already there")
    if result.no_response:
        parts.append(f"{result.no_response} without a response (not stored)")
    if result.skipped_count:
        parts.append(f"{result.skipped_count} skipped")
    entries = f"{result.entries} entr{'y' if result.entries == 1 else 'ies'}"
    out.notice(
        f"Imported {{}} ({result.format.upper()}, {entries}) into {{}}: " + ", ".join(parts),
        file,
        db,
    )
    for skipped in result.skipped[:FIRST_REASONS]:
        out.notice("  skipped entry {}: {}", skipped.index, skipped.reason)
    if result.skipped_count > FIRST_REASONS:
        more = result.skipped_count - FIRST_REASONS
        listed = "them all" if result.skipped_count <= KEPT_REASONS else f"the first {KEPT_REASONS}"
        out.notice(f"  ... and {more} more (--json lists {listed})")


def _size(file: str) -> int | None:
    """The size of the file to import, for a percentage (None: stdin, or not a file)."""
    from pathlib import Path

    try:
        return Path(file).stat().st_size if file != "-" else None
    except OSError:
        return None
