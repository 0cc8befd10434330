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
    from ngrok_inspect.render import output

    st = state()
    with st.client() as client:
        agent = client.status()
        tunnels = client.tunnels()
        held = 0 if quiet else len(client.list_requests_raw(limit=ALL))
    api_url = st.settings.api_url
    if quiet:
        return
    if as_json:
        from ngrok_inspect.render.status import status_dict

        output.write_json(status_dict(api_url, agent, tunnels, held))
    elif output.is_terminal():
        from ngrok_inspect.render.status import status_renderable

        console = output.make_console(no_color=st.no_color)
        table = status_renderable(api_url, agent, tunnels, held, width=console.width)
        console.print(table, crop=True, no_wrap=True, overflow="ellipsis")
    else:
        from ngrok_inspect.render.status import status_plain

        output.write(status_plain(api_url, agent, tunnels, held))
