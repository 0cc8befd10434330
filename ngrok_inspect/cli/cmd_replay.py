"""``ngrok-inspect replay``: replay a captured request through the agent."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from ngrok_inspect.cli.app import app, state
from ngrok_inspect.cli.options import JsonOpt
from ngrok_inspect.errors import ConditionNotMetError

if TYPE_CHECKING:
    from ngrok_inspect.client import AgentClient
    from ngrok_inspect.models import CapturedRequest

POLL_INTERVAL = 0.1
SCAN = 50


def find_replay(
    client: AgentClient, original: CapturedRequest, known: set[str], timeout: float
) -> CapturedRequest:
    """The new, completed entry a replay of ``original`` produced (polls the newest
    entries); :class:`ConditionNotMetError` when none appears within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        for req in client.list_requests(limit=SCAN):
            same = req.method == original.method and req.request.uri == original.request.uri
            if req.id not in known and same and not req.pending:
                return req
        if time.monotonic() >= deadline:
            raise ConditionNotMetError(
                f"the agent accepted the replay of {original.id} but no new entry "
                f"appeared within {timeout:g}s",
                hint="Is the upstream slow? Raise --timeout, or use --no-wait",
            )
        time.sleep(POLL_INTERVAL)


@app.command(
    "replay",
    epilog="Examples:\n\n"
    "  ngrok-inspect replay last\n\n"
    "  ngrok-inspect replay airt_3Mk9 --tunnel staging --json | jq .status_code",
)
def replay_command(
    request_id: Annotated[
        str, typer.Argument(metavar="ID", help="A full id, a unique prefix of one, or 'last'.")
    ],
    tunnel: Annotated[
        str | None,
        typer.Option("--tunnel", metavar="NAME", help="Replay through this tunnel instead."),
    ] = None,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return once the agent accepted the replay.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Replay a request through the agent, then print the new entry's id, status and
    duration (--json: its record). Waits up to --timeout seconds for it."""
    from ngrok_inspect.render import output

    st = state()
    with st.client() as client:
        original = client.get_request(client.resolve_id(request_id))
        if tunnel is not None:
            client.tunnel(tunnel)  # exit 4 for an unknown tunnel, before replaying
        known = {r["id"] for r in client.list_requests_raw(limit=SCAN) if "id" in r}
        client.replay(original.id, tunnel_name=tunnel)
        if no_wait:
            output.notice(f"Replay of {original.id} accepted by {st.settings.api_url}")
            return
        new = find_replay(client, original, known, st.settings.timeout)
    if as_json:
        output.write_json(new.to_dict())
        return
    from ngrok_inspect.render.text import duration_text

    status = new.response.status if new.response is not None else "pending"
    output.write(f"{new.id}\t{status}\t{duration_text(new.duration_ms)} ms\n")
