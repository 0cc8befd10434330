"""LocalAgent: the capture proxy and the agent API, on their own event-loop thread."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from yarl import URL

from ngrok_inspect.errors import UsageError
from ngrok_inspect.local_agent.api import AgentApi, ApiError
from ngrok_inspect.local_agent.limits import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_INFLIGHT_BUDGET,
    ConnectionCap,
    InflightBudget,
    PublicLimits,
    connection_cap,
    file_limit,
)
from ngrok_inspect.local_agent.proxy import Proxy, RunningTunnel, TunnelServer, TunnelSpec
from ngrok_inspect.local_agent.store import Store
from ngrok_inspect.local_agent.upstream import UpstreamPool

DEFAULT_CAPTURE_LIMIT = 10 * 1024**2
DEFAULT_INSPECT_DB_SIZE = 50 * 1000**2
# aiohttp's per-request error logs go to this logger; without a handler configured by the
# application they are dropped (a library never prints), so no traceback reaches stderr.
LOG = logging.getLogger("ngrok_inspect.local_agent")
LOG.addHandler(logging.NullHandler())
SERVER_OPTIONS: dict[str, Any] = {
    "auto_decompress": False,  # capture and forward compressed bodies as they are
    "access_log": None,
    "logger": LOG,
    "keepalive_timeout": 75.0,
    "max_line_size": 8190,
    "max_field_size": 8190,
    "lingering_time": 1.0,
}


def parse_hostport(value: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``"127.0.0.1:0"``, ``"[::1]:4040"``, ``"4040"``, ``":4040"`` -> ``(host, port)``."""
    text = str(value).strip()
    if "://" in text:
        parts = urlsplit(text)
        text = parts.netloc
    if text.isdigit():
        host, port_text = default_host, text
    elif text.startswith("["):
        end = text.find("]")
        host, port_text = text[1:end], text[end + 2 :]
    else:
        host, _, port_text = text.rpartition(":")
        host = host or default_host
    try:
        port = int(port_text)
    except ValueError:
        raise UsageError(
            f"invalid address {value!r}", hint="Give HOST:PORT or a port, e.g. 127.0.0.1:4040"
        ) from None
    if not 0 <= port <= 65535:
        raise UsageError(f"invalid port in {value!r}", hint="Ports run from 0 to 65535")
    return host, port


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_upstream(value: str | int) -> tuple[str, str]:
    """An upstream given as port, ``host:port`` or URL -> ``(connect URL, display addr)``.

    ``8000`` shows as ``http://localhost:8000`` (as ngrok shows it) and is reached at
    ``http://127.0.0.1:8000``.
    """
    text = str(value).strip()
    if text.isdigit():
        text = f"localhost:{text}"
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"invalid upstream {value!r}",
            hint="Give a port (8000), host:port (localhost:3000) or URL (http://127.0.0.1:8000)",
        )
    try:
        port = parts.port
    except ValueError:
        raise UsageError(
            f"invalid port in upstream {value!r}", hint="Ports run from 1 to 65535"
        ) from None
    if parts.path not in ("", "/") or parts.query:
        raise UsageError(
            f"upstream {value!r} has a path or query",
            hint="Give only scheme, host and port; request paths are kept as sent",
        )
    display = f"{parts.scheme}://{parts.netloc}"
    host = parts.hostname
    connect_host = "127.0.0.1" if host == "localhost" else host
    if ":" in connect_host:
        connect_host = f"[{connect_host}]"
    connect = f"{parts.scheme}://{connect_host}" + (f":{port}" if port else "")
    return connect, display


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop when it is installed (several times faster), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


MAX_TUNNEL_NAME = 64  # a tunnel name from POST /api/tunnels: printable, at most this long
MAX_TUNNELS = 64  # each tunnel holds a listening socket: the API cannot make unbounded ones


class AgentCore:
    """Everything that runs on the agent's loop: tunnels, store, proxy, API listener."""

    def __init__(
        self,
        *,
        capture_limit: int,
        inspect_db_size: int,
        upstream_timeout: float,
        on_request: Callable[[dict[str, Any]], None] | None,
        header_timeout: float | None = DEFAULT_HEADER_TIMEOUT,
        body_timeout: float | None = DEFAULT_BODY_TIMEOUT,
        inflight_budget: int = DEFAULT_INFLIGHT_BUDGET,
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        self.store = Store(inspect_db_size)
        nofile = file_limit()
        self.limits = PublicLimits(
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            connections=ConnectionCap(connection_cap(nofile), nofile, on_notice),
            budget=InflightBudget(inflight_budget),
        )
        self.tunnels: list[RunningTunnel] = []
        self.capture_limit = capture_limit
        self.upstream_timeout = upstream_timeout
        self.on_request = on_request
        self.session: aiohttp.ClientSession | None = None
        self.proxy: Proxy | None = None
        self.api = AgentApi(self)
        self._api_server: web.Server | None = None
        self._api_listener: asyncio.AbstractServer | None = None
        self.api_url = ""

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
            self.store,
            self.session,
            capture_limit=self.capture_limit,
            upstream_timeout=self.upstream_timeout,
            limits=self.limits,
            on_request=self.on_request,
        )

    async def listen_api(self, web_addr: str, tries: int = 1) -> str:
        """Bind the API; when the port is taken try the next ones (``tries`` in all)."""
        host, port = parse_hostport(web_addr)
        self._api_server = web.Server(self.api.handle, **SERVER_OPTIONS)
        loop = asyncio.get_running_loop()
        last: OSError | None = None
        for attempt in range(max(1, tries)):
            p = port + attempt if port else 0
            try:
                self._api_listener = await loop.create_server(
                    self._api_server, host, p, reuse_address=True
                )
                break
            except OSError as exc:
                last = exc
        else:
            span = f"{port}-{port + tries - 1}" if tries > 1 else str(port)
            raise UsageError(
                f"cannot serve the agent API on {host}:{span} ({_os_reason(last)})",
                hint="Stop the other agent, or pass --web-addr with a free port",
            )
        sock = self._api_listener.sockets[0].getsockname()
        self.api.own_hosts.add(host.strip("[]").lower())
        self.api_url = f"http://{_url_host(host)}:{sock[1]}"
        return self.api_url

    async def start_tunnel(self, spec: TunnelSpec) -> RunningTunnel:
        """Start one tunnel's listener."""
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
        server = TunnelServer(
            self.proxy.handler(tunnel), tunnel.metrics, self.limits, **SERVER_OPTIONS
        )
        try:
            listener = await asyncio.get_running_loop().create_server(
                server, host, port, reuse_address=True, backlog=1024
            )
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {host}:{port} for tunnel {spec.name!r} ({_os_reason(exc)})",
                hint="Pass --listen with a free port (or 0 for any)",
            ) from None
        sockname = listener.sockets[0].getsockname()
        tunnel.public_url = f"{spec.proto}://{_url_host(host)}:{sockname[1]}"
        tunnel.server = server
        tunnel.listener = listener
        self.tunnels.append(tunnel)
        return tunnel

    async def start_tunnel_from_api(self, body: dict[str, Any]) -> RunningTunnel:
        """``POST /api/tunnels``: validate the definition, start the tunnel."""
        name = body.get("name")
        proto = body.get("proto", "http")
        addr = body.get("addr")
        inspect = body.get("inspect", True)
        if not isinstance(name, str) or not name:
            raise ApiError(400, "invalid tunnel configuration", {"err": "name is required"}, 102)
        if len(name) > MAX_TUNNEL_NAME or not name.isprintable():
            raise ApiError(
                400,
                "invalid tunnel configuration",
                {"err": f"a tunnel name is 1 to {MAX_TUNNEL_NAME} printable characters"},
                102,
            )
        if len(self.tunnels) >= MAX_TUNNELS:
            raise ApiError(
                400,
                "invalid tunnel configuration",
                {"err": f"at most {MAX_TUNNELS} tunnels can run at once"},
                102,
            )
        if proto not in ("http", "https"):
            raise ApiError(
                400,
                "invalid tunnel configuration",
                {"err": f"the local agent serves only http tunnels, not {proto!r}"},
                102,
            )
        if any(t.name == name for t in self.tunnels):
            raise ApiError(
                400, "invalid tunnel configuration", {"err": f"tunnel {name!r} already exists"}, 102
            )
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
            raise ApiError(400, "invalid tunnel configuration", {"err": exc.message}, 102) from None

    def tunnel_or_error(self, name: str) -> RunningTunnel:
        """The tunnel called ``name``, or the agent's 404 (error_code 100)."""
        for t in self.tunnels:
            if t.name == name:
                return t
        raise ApiError(404, "tunnel not found", {"name": name}, 100)

    async def stop_tunnel(self, name: str) -> None:
        """Close one tunnel's listener and its connections."""
        tunnel = self.tunnel_or_error(name)
        self.tunnels.remove(tunnel)
        await _close_listener(tunnel.listener, tunnel.server)
        if tunnel.pool is not None:
            tunnel.pool.close()

    async def replay(self, entry_id: str, tunnel_name: str | None) -> None:
        """Replay a captured request (through ``tunnel_name``, or its own tunnel)."""
        assert self.proxy is not None
        entry = self.store.get(entry_id)
        if entry is None:
            raise ApiError(404, "request entry not found", {"id": entry_id}, 106)
        if entry.request.cut or not entry.request.complete:
            raise ApiError(
                400,
                "cannot replay a request whose body was not captured whole",
                {"id": entry_id, "err": "the body was cut at the capture limit or is incomplete"},
            )
        name = tunnel_name if tunnel_name is not None else entry.tunnel_name
        await self.proxy.replay(self.tunnel_or_error(name), entry)

    async def close(self) -> None:
        """Close every listener and the upstream session."""
        for t in list(self.tunnels):
            await _close_listener(t.listener, t.server)
            if t.pool is not None:
                t.pool.close()
        if self._api_listener is not None:
            await _close_listener(self._api_listener, self._api_server)
        if self.session is not None:
            await self.session.close()


async def _close_listener(listener: Any, server: web.Server | None) -> None:
    if listener is None:
        return
    listener.close()
    if server is not None:
        server.pre_shutdown()
        await server.shutdown(1.0)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(listener.wait_closed(), 2.0)


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1" if host == "" else host
    return f"[{host}]" if ":" in host else host


def _os_reason(exc: OSError | None) -> str:
    if exc is None:
        return "unknown error"
    return exc.strerror or str(exc)


class LocalAgent:
    """A capture proxy in front of ``upstream`` that serves the ngrok agent API.

    Use it as a context manager (or call :meth:`start` and :meth:`stop`)::

        with LocalAgent("http://127.0.0.1:8000") as agent:
            requests.get(agent.tunnels[0].public_url + "/hello")
            AgentClient(agent.api_url).list_requests()

    It runs aiohttp on its own event-loop thread, so it can be used from synchronous
    code. ``upstream=None`` (and no ``tunnels``) makes a request bin that answers
    ``200``. ``tunnels`` starts several tunnels instead of the single ``name``/``upstream``
    one. ``web_addr_tries`` > 1 tries the following ports when the API port is taken.
    ``on_request`` is called on the agent thread with a summary dict (``id``,
    ``tunnel_name``, ``method``, ``uri``, ``status_code``, ``status``, ``duration`` in ns,
    ``start`` as a Unix time, ``error``: why it did not complete, or None) after each
    exchange. ``header_timeout`` (seconds for a request head), ``body_timeout`` (seconds
    without a request-body byte) and ``inflight_budget`` (body bytes all captures in
    flight may hold) bound what a client can hold; None turns a timeout off. Public
    connections are capped below the file limit; ``on_notice(text)`` is called (on the
    agent thread) when the cap is first reached.
    """

    def __init__(
        self,
        upstream: str | None = None,
        *,
        name: str = "command_line",
        listen: str = "127.0.0.1:0",
        web_addr: str = "127.0.0.1:0",
        tunnels: list[TunnelSpec] | None = None,
        capture_limit: int = DEFAULT_CAPTURE_LIMIT,
        inspect_db_size: int = DEFAULT_INSPECT_DB_SIZE,
        upstream_timeout: float = 60.0,
        on_request: Callable[[dict[str, Any]], None] | None = None,
        web_addr_tries: int = 1,
        header_timeout: float | None = DEFAULT_HEADER_TIMEOUT,
        body_timeout: float | None = DEFAULT_BODY_TIMEOUT,
        inflight_budget: int = DEFAULT_INFLIGHT_BUDGET,
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        if tunnels is None:
            tunnels = [TunnelSpec(name=name, addr=upstream, listen=listen)]
        for spec in tunnels:
            if spec.addr is not None:
                normalize_upstream(spec.addr)  # fail early on a bad address
            parse_hostport(spec.listen)
        parse_hostport(web_addr)
        if capture_limit < 0 or inspect_db_size < 0 or inflight_budget < 0:
            raise UsageError("capture limit, store size and in-flight budget must be positive")
        for timeout in (header_timeout, body_timeout):
            if timeout is not None and timeout <= 0:
                raise UsageError(
                    "header and body timeouts must be positive", hint="Give seconds, e.g. 10"
                )
        self._specs = list(tunnels)
        self._web_addr = web_addr
        self._web_addr_tries = web_addr_tries
        self._core = AgentCore(
            capture_limit=capture_limit,
            inspect_db_size=inspect_db_size,
            upstream_timeout=upstream_timeout,
            on_request=on_request,
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            inflight_budget=inflight_budget,
            on_notice=on_notice,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.api_url = ""

    @property
    def tunnels(self) -> list[RunningTunnel]:
        """The running tunnels (each with ``name``, ``public_url``, ``upstream``, ``inspect``)."""
        return list(self._core.tunnels)

    @property
    def public_url(self) -> str:
        """The first tunnel's public URL."""
        return self._core.tunnels[0].public_url

    def start(self) -> LocalAgent:
        """Bind the listeners and start serving; raises UsageError when a port is taken."""
        if self._thread is not None:
            return self
        loop = new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._astart())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                loop.run_until_complete(self._core.close())
                loop.close()
                ready.set()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._core.close())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="ngrok-inspect-agent", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    async def _astart(self) -> None:
        await self._core.open()
        self.api_url = await self._core.listen_api(self._web_addr, self._web_addr_tries)
        for spec in self._specs:
            await self._core.start_tunnel(spec)

    def stop(self) -> None:
        """Close the listeners and stop the loop thread (idempotent)."""
        if self._thread is None or self._loop is None:
            return
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the agent's loop thread and return its result (for tests/tools)."""
        assert self._loop is not None

        async def wrapper() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(timeout=10)

    def __enter__(self) -> LocalAgent:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


__all__ = ["LocalAgent", "RunningTunnel", "TunnelSpec", "normalize_upstream", "parse_hostport"]
