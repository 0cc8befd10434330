"""The local agent: a capturing reverse proxy that serves the ngrok agent API (aiohttp).

``LocalAgent`` runs on its own event-loop thread; see ``docs/local-agent.md``.
"""

from ngrok_inspect.local_agent.proxy import RunningTunnel, TunnelSpec
from ngrok_inspect.local_agent.server import LocalAgent, normalize_upstream, parse_hostport

__all__ = ["LocalAgent", "RunningTunnel", "TunnelSpec", "normalize_upstream", "parse_hostport"]
