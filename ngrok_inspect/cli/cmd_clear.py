"""``ngrok-inspect clear``: delete the agent's request history."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ngrok_inspect.cli.app import app, state
from ngrok_inspect.cli.options import JsonOpt
from ngrok_inspect.cli.output import Output
from ngrok_inspect.errors import UsageError


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _confirm(out: Output, question: str) -> bool:
    """Ask on stderr; only y/yes is a yes. End of input (Ctrl-D) is a no, not an error
    (typer.confirm turns it into an abort, indistinguishable from Ctrl-C)."""
    answer = out.ask(f"{question} [y/N]: ")
    return answer is not None and answer.lower() in ("y", "yes")


@app.command(
    "clear",
    epilog="Examples:\n\n  ngrok-inspect clear\n\n  ngrok-inspect clear --yes   # in scripts",
)
def clear_command(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete every captured request the agent holds, and say how many were dropped.

    Asks first on a terminal; without a terminal it needs --yes (exit 2 otherwise)."""
    out = Output.open(json=as_json)
    st = state()
    url = st.settings.api_url
    if not yes and not _stdin_is_terminal():
        raise UsageError(
            "refusing to clear the agent's history without confirmation (no terminal)",
            hint="Pass --yes to clear without asking",
        )
    with st.client() as client:
        count = len(client.list_requests_raw(limit=1_000_000))
        if (
            not yes
            and count
            and not _confirm(
                out, f"Delete {count} captured request{'s' if count != 1 else ''} from {url}?"
            )
        ):
            out.notice("Nothing deleted")
            return
        client.delete_requests()
    out.view(json=lambda: {"api_url": url, "deleted": count})
    out.notice(f"Deleted {count} captured request{'s' if count != 1 else ''} from {{}}", url)
