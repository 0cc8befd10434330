"""``ngrok-inspect status``: the agent, its version and its tunnels."""

from __future__ import annotations

from typing import Annotated

import typer

from ngrok_inspect.cli.app import app, state
from ngrok_inspect.cli.options import JsonOpt
from ngrok_inspect.client import ALL


@app.command(
    "status",
    epilog="Examples:\n\n"
    "  ngrok-inspect status\n\n"
    "  ngrok-inspect status --api-url 4041 --json | jq -r '.tunnels[].public_url'",
)
def status_command(
    as_json: JsonOpt = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print nothing; exit 0 when the agent answers.")
    ] = False,
) -> None:
    """Agent URL, status, version, captures held now, and a table of tunnels (requests
    served since the agent started, p50/p99 ms)."""
    from ngrok_inspect.cli.output import Output
    from ngrok_inspect.render import status as view

    out = Output.open(json=as_json and not quiet, quiet=quiet)  # --quiet: nothing at all
    st = state()
    with st.client() as client:
        agent = client.status()
        tunnels = client.tunnels()
        held = 0 if quiet else len(client.list_requests_raw(limit=ALL))
    url = st.settings.api_url
    out.view(
        json=lambda: view.status_dict(url, agent, tunnels, held),
        table=lambda width: view.status_renderable(url, agent, tunnels, held, width=width),
        plain=lambda: view.status_plain(url, agent, tunnels, held),
    )
