"""``ngrok-inspect demo``: the whole job in one command, with no ngrok account.

Starts the local agent in front of a small sample service, sends a webhook and a few
other requests through it, then shows what was captured exactly as ``requests list`` and
``requests show`` would. aiohttp and the local agent are imported inside the command.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ngrok_inspect.cli.app import app, state
from ngrok_inspect.cli.output import Output


@app.command(
    "demo",
    epilog="Examples:\n\n"
    "  ngrok-inspect demo\n\n"
    "  ngrok-inspect demo --keep    # then, in another terminal: ngrok-inspect requests list",
)
def demo_command(
    keep: Annotated[
        bool,
        typer.Option(
            "--keep",
            help="Keep the agent running afterwards (API on 127.0.0.1:4040, or the next free "
            "port up to 4049; NGROK_INSPECT_WEB_ADDR moves it) so you can try the other "
            "commands; Ctrl-C stops it.",
        ),
    ] = False,
) -> None:
    """Capture sample traffic through the built-in local agent and show it.

    Nothing leaves this machine: the sample service, the agent and its API all listen on
    127.0.0.1.
    """
    from ngrok_inspect.cli.agent_banner import api_url_argument
    from ngrok_inspect.cli.signals import stop_requested
    from ngrok_inspect.demo import DemoUpstream, send_sample_traffic
    from ngrok_inspect.local_agent import LocalAgent
    from ngrok_inspect.settings import DEFAULT_API_URL, local_web_addr

    out = Output.open()
    st = state()
    web_addr, tries = (local_web_addr(), 10) if keep else ("127.0.0.1:0", 1)
    with (
        DemoUpstream() as upstream,
        LocalAgent(upstream.url, name="demo", web_addr=web_addr, web_addr_tries=tries) as agent,
    ):
        tunnel = agent.tunnels[0]
        out.notice(f"Local agent: {tunnel.public_url} -> {upstream.url}, API {agent.api_url}")
        sent = send_sample_traffic(tunnel.public_url)
        out.notice(f"Sent {sent} requests through it; the agent captured:\n")
        webhook = _show_capture(
            out, agent.api_url, {tunnel.name: tunnel.public_url}, timeout=st.settings.timeout
        )
        if not keep:
            # the agent and its captures end with the demo: say so, rather than leave a
            # 'requests show ID' on screen that no agent can answer any more
            out.notice(
                "\nThe demo's agent stopped with it. To try 'requests list', 'requests show' "
                "and 'replay' on this traffic, run: ngrok-inspect demo --keep"
            )
            return
        api = (
            ""
            if agent.api_url == DEFAULT_API_URL
            else f"--api-url {api_url_argument(agent.api_url)} "
        )
        out.notice(
            f"\nThe agent keeps running. Try: ngrok-inspect {api}requests list --errors\n"
            f"or: ngrok-inspect {api}requests show {webhook}\n"
            f"Send more traffic to {tunnel.public_url}. Press Ctrl-C to stop."
        )
        with stop_requested() as stop:
            while not stop.wait(0.5):
                pass
    out.notice("Stopped.")


def _show_capture(out: Output, api_url: str, public_urls: dict[str, str], *, timeout: float) -> str:
    """What the agent captured, as ``requests list`` shows it; then the webhook in detail
    (its id returned)."""
    from ngrok_inspect.client import AgentClient

    with AgentClient(api_url, timeout=timeout) as client:
        reqs = client.list_requests()
    out.records(reqs)
    webhook = next(r for r in reqs if r.path == "/webhooks/github")
    out.notice(f"\nThe webhook in detail (as 'requests show {webhook.id}' shows it):\n")
    out.request(webhook, public_urls)
    return webhook.id
