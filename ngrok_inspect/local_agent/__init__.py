"""The local agent: a capturing reverse proxy that serves the ngrok agent API (aiohttp).

``LocalAgent`` runs on its own event-loop thread; see ``docs/local-agent.md`` and, for
the modules and what each answers, ``docs/internals.md``.
"""

from ngrok_inspect.local_agent.addresses import normalize_upstream, parse_hostport
from ngrok_inspect.local_agent.server import LocalAgent
from ngrok_inspect.local_agent.tunnel import RunningTunnel, TunnelSpec

__all__ = ["LocalAgent", "RunningTunnel", "TunnelSpec", "normalize_upstream", "parse_hostport"]
