"""What a tunnel is: the spec to start one, and the running tunnel with its metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ngrok_inspect.local_agent.metrics import TunnelMetrics
from ngrok_inspect.local_agent.upstream import UpstreamPool


@dataclass
class TunnelSpec:
    """What to start: a named HTTP tunnel from a public listener to an upstream.

    ``addr`` is the upstream (port, ``host:port`` or URL; None for a request bin that
    answers every request ``200``); ``inspect=False`` forwards without capturing.
    """

    name: str
    addr: str | None = None
    inspect: bool = True
    listen: str = "127.0.0.1:0"
    proto: str = "http"


@dataclass
class RunningTunnel:
    """A started tunnel: its ``public_url`` (send traffic here) and ``upstream`` URL."""

    name: str
    public_url: str
    upstream: str | None
    inspect: bool
    proto: str = "http"
    addr: str | None = None  # the upstream as the tunnel's config shows it
    metrics: TunnelMetrics = field(default_factory=TunnelMetrics, repr=False)
    pool: UpstreamPool | None = field(default=None, repr=False)  # plain-HTTP upstreams
    server: Any = field(default=None, repr=False)
    listener: Any = field(default=None, repr=False)

    def to_api(self) -> dict[str, Any]:
        """The agent's JSON for this tunnel."""
        return {
            "name": self.name,
            "uri": "/api/tunnels/" + quote(self.name, safe=""),
            "public_url": self.public_url,
            "proto": self.proto,
            "config": {"addr": self.addr or "", "inspect": self.inspect},
            "metrics": self.metrics.to_api(),
        }
