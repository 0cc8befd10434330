"""AgentCore: everything that runs on the agent's loop - tunnels, store, proxy, replay.

It speaks in domain errors (:class:`UnknownTunnel`, :class:`UnknownEntry`,
:class:`InvalidTunnel`, :class:`InvalidRequest`, :class:`NotReplayable`); only ``api``
turns them into the
shapes and codes of ngrok's API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
from yarl import URL

from ngrok_inspect.errors import UsageError
from ngrok_inspect.local_agent.addresses import normalize_upstream, parse_hostport
from ngrok_inspect.local_agent.capture import Capture
from ngrok_inspect.local_agent.feed import CaptureFeed
from ngrok_inspect.local_agent.limits import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_INFLIGHT_BUDGET,
    DEFAULT_SEND_TIMEOUT,
    ConnectionCap,
    InflightBudget,
    PublicLimits,
    connection_cap,
    file_limit,
)
from ngrok_inspect.local_agent.listeners import close_listener, os_reason, url_host
from ngrok_inspect.local_agent.proxy import Proxy
from ngrok_inspect.local_agent.public import PublicServer
from ngrok_inspect.local_agent.replay import Replayer
from ngrok_inspect.local_agent.store import Entry, Store
from ngrok_inspect.local_agent.tunnel import RunningTunnel, TunnelSpec
from ngrok_inspect.local_agent.upstream import UpstreamPool
from ngrok_inspect.local_agent.wire import origin_form, parse_request

MAX_TUNNEL_NAME = 64  # a tunnel name from POST /api/tunnels: printable, at most this long
MAX_TUNNELS = 64  # each tunnel holds a listening socket: the API cannot make unbounded ones


class CoreError(Exception):
    """A request the agent core refuses."""


class UnknownTunnel(CoreError):
    """No tunnel has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"tunnel not found: {name!r}")
        self.name = name


class UnknownEntry(CoreError):
    """No captured entry has this id."""

    def __init__(self, entry_id: str) -> None:
        super().__init__(f"request entry not found: {entry_id!r}")
        self.entry_id = entry_id


class InvalidTunnel(CoreError):
    """A tunnel definition that cannot be started (``reason`` says why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidRequest(CoreError):
    """A request to send that is not a well-formed HTTP/1.x message (``reason``: why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotReplayable(CoreError):
    """A captured request that cannot be sent again as it was."""

    def __init__(self, entry_id: str, reason: str) -> None:
        super().__init__(reason)
        self.entry_id = entry_id
        self.reason = reason


class AgentCore:
    """Tunnels, store, proxy and replay; all of it used only from the agent's loop."""

    def __init__(
        self,
        *,
        capture_limit: int,
        inspect_db_size: int,
        upstream_timeout: float,
        on_request: Callable[[dict[str, Any]], None] | None,
        feed: CaptureFeed | None = None,
        header_timeout: float | None = DEFAULT_HEADER_TIMEOUT,
        body_timeout: float | None = DEFAULT_BODY_TIMEOUT,
        inflight_budget: int = DEFAULT_INFLIGHT_BUDGET,
        send_timeout: float | None = DEFAULT_SEND_TIMEOUT,
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        self.store = Store(inspect_db_size)
        nofile = file_limit()
        self.limits = PublicLimits(
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            connections=ConnectionCap(connection_cap(nofile), nofile, on_notice),
            budget=InflightBudget(inflight_budget),
            send_timeout=send_timeout,
        )
        # the API's connections: the same header clock, never refused (loopback only)
        self.api_limits = PublicLimits(
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            connections=ConnectionCap(None, nofile, None),
            budget=self.limits.budget,
        )
        self.capture = Capture(
            self.store,
            capture_limit=capture_limit,
            on_request=on_request,
            feed=feed,
            budget=self.limits.budget,
        )
        self.tunnels: list[RunningTunnel] = []
        self.upstream_timeout = upstream_timeout
        self.session: aiohttp.ClientSession | None = None
        self.proxy: Proxy | None = None
        self.replayer: Replayer | None = None

    async def open(self) -> None:
        """Create the upstream session."""
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300)
        self.session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )
        self.proxy = Proxy(
            self.capture, self.session, upstream_timeout=self.upstream_timeout, limits=self.limits
        )
        self.replayer = Replayer(self.capture, self.session, upstream_timeout=self.upstream_timeout)

    async def start_tunnel(self, spec: TunnelSpec) -> RunningTunnel:
        """Start one tunnel's listener (UsageError: a duplicate name, a port taken)."""
        assert self.proxy is not None
        if any(t.name == spec.name for t in self.tunnels):
            raise UsageError(f"two tunnels are named {spec.name!r}", hint="Give each a unique name")
        connect = display = None
        if spec.addr is not None:
            connect, display = normalize_upstream(spec.addr)
        host, port = parse_hostport(spec.listen)
        tunnel = RunningTunnel(
            name=spec.name,
            public_url="",
            upstream=connect,
            inspect=spec.inspect,
            proto=spec.proto,
            addr=display,
        )
        if connect is not None and connect.startswith("http://"):
            target = URL(connect)
            tunnel.pool = UpstreamPool(
                str(target.host), int(target.port or 80), timeout=self.upstream_timeout
            )
        server = PublicServer(self.proxy.handler(tunnel), tunnel.metrics, self.limits)
        try:
            listener = await asyncio.get_running_loop().create_server(
                server, host, port, reuse_address=True, backlog=1024
            )
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {host}:{port} for tunnel {spec.name!r} ({os_reason(exc)})",
                hint="Pass --listen with a free port (or 0 for any)",
            ) from None
        sockname = listener.sockets[0].getsockname()
        tunnel.public_url = f"{spec.proto}://{url_host(host)}:{sockname[1]}"
        tunnel.server = server
        tunnel.listener = listener
        self.tunnels.append(tunnel)
        return tunnel

    async def start_tunnel_from_definition(self, body: dict[str, Any]) -> RunningTunnel:
        """A tunnel from an API definition (``name``, ``addr``, ``proto``, ``inspect``)."""
        name = body.get("name")
        proto = body.get("proto", "http")
        addr = body.get("addr")
        inspect = body.get("inspect", True)
        if not isinstance(name, str) or not name:
            raise InvalidTunnel("name is required")
        if len(name) > MAX_TUNNEL_NAME or not name.isprintable():
            raise InvalidTunnel(f"a tunnel name is 1 to {MAX_TUNNEL_NAME} printable characters")
        if len(self.tunnels) >= MAX_TUNNELS:
            raise InvalidTunnel(f"at most {MAX_TUNNELS} tunnels can run at once")
        if proto not in ("http", "https"):
            raise InvalidTunnel(f"the local agent serves only http tunnels, not {proto!r}")
        if any(t.name == name for t in self.tunnels):
            raise InvalidTunnel(f"tunnel {name!r} already exists")
        if isinstance(inspect, str):
            inspect = inspect.lower() not in ("false", "0", "no")
        spec = TunnelSpec(
            name=name,
            addr=None if addr in (None, "") else str(addr),
            inspect=bool(inspect),
            proto="http",
        )
        try:
            return await self.start_tunnel(spec)
        except UsageError as exc:
            raise InvalidTunnel(exc.message) from None

    def tunnel(self, name: str) -> RunningTunnel:
        """The tunnel called ``name`` (UnknownTunnel)."""
        for t in self.tunnels:
            if t.name == name:
                return t
        raise UnknownTunnel(name)

    async def stop_tunnel(self, name: str) -> None:
        """Close one tunnel's listener and its connections (UnknownTunnel)."""
        tunnel = self.tunnel(name)
        self.tunnels.remove(tunnel)
        await close_listener(tunnel.listener, tunnel.server)
        if tunnel.pool is not None:
            tunnel.pool.close()

    async def replay(self, entry_id: str, tunnel_name: str | None) -> None:
        """Replay a captured request (through ``tunnel_name``, or its own tunnel)."""
        assert self.replayer is not None
        entry = self.store.get(entry_id)
        if entry is None:
            raise UnknownEntry(entry_id)
        if entry.request.cut or not entry.request.complete:
            raise NotReplayable(entry_id, "the body was cut at the capture limit or is incomplete")
        name = tunnel_name if tunnel_name is not None else entry.tunnel_name
        await self.replayer.replay(self.tunnel(name), entry)

    async def send(self, tunnel_name: str, raw: bytes) -> Entry:
        """Send ``raw`` (a whole HTTP/1.x request) through a tunnel and capture it as
        ``remote_addr: "replayed"``; the new, finished entry (UnknownTunnel,
        InvalidRequest)."""
        assert self.replayer is not None
        tunnel = self.tunnel(tunnel_name)
        try:
            message = parse_request(raw)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        if message.method == "CONNECT" or origin_form(message.method, message.target) is None:
            raise InvalidRequest("the request target must be a path: the tunnel decides the host")
        return await self.replayer.send(tunnel, message)

    async def close(self) -> None:
        """Close every tunnel listener and the upstream session."""
        for t in list(self.tunnels):
            await close_listener(t.listener, t.server)
            if t.pool is not None:
                t.pool.close()
        if self.session is not None:
            await self.session.close()
