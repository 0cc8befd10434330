"""LocalAgent: the agent core and its API listener, on their own event-loop thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from ngrok_inspect.errors import TunnelNotFoundError, UsageError
from ngrok_inspect.local_agent.addresses import normalize_upstream, parse_hostport
from ngrok_inspect.local_agent.api import AgentApi
from ngrok_inspect.local_agent.core import AgentCore, InvalidRequest, UnknownTunnel
from ngrok_inspect.local_agent.feed import CaptureFeed, CaptureListener
from ngrok_inspect.local_agent.limits import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_INFLIGHT_BUDGET,
    DEFAULT_SEND_TIMEOUT,
)
from ngrok_inspect.local_agent.listeners import (
    SERVER_OPTIONS,
    GuardedServer,
    close_listener,
    os_reason,
    url_host,
)
from ngrok_inspect.local_agent.tunnel import RunningTunnel, TunnelSpec
from ngrok_inspect.models import CapturedRequest

DEFAULT_CAPTURE_LIMIT = 10 * 1024**2
DEFAULT_INSPECT_DB_SIZE = 50 * 1000**2


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop when it is installed (several times faster), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class ApiListener:
    """The agent API's listening socket."""

    def __init__(self, api: AgentApi) -> None:
        self.api = api
        self.url = ""
        self._server: web.Server | None = None
        self._listener: asyncio.AbstractServer | None = None

    async def listen(self, web_addr: str, tries: int = 1) -> str:
        """Bind the API; when the port is taken try the next ones (``tries`` in all)."""
        host, port = parse_hostport(web_addr)
        self._server = GuardedServer(self.api.handle, self.api.core.api_limits, **SERVER_OPTIONS)
        loop = asyncio.get_running_loop()
        last: OSError | None = None
        for attempt in range(max(1, tries)):
            p = port + attempt if port else 0
            try:
                self._listener = await loop.create_server(self._server, host, p, reuse_address=True)
                break
            except OSError as exc:
                last = exc
        else:
            span = f"{port}-{port + tries - 1}" if tries > 1 else str(port)
            raise UsageError(
                f"cannot serve the agent API on {host}:{span} ({os_reason(last)})",
                hint="Stop the other agent, or pass --web-addr with a free port",
            )
        sock = self._listener.sockets[0].getsockname()
        self.api.own_hosts.add(host.strip("[]").lower())
        self.url = f"http://{url_host(host)}:{sock[1]}"
        return self.url

    async def close(self) -> None:
        """Stop serving the API."""
        if self._listener is not None:
            await close_listener(self._listener, self._server)


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
    exchange.

    ``header_timeout`` (seconds for a request head), ``body_timeout`` (seconds without a
    request-body byte while one is awaited), ``send_timeout`` (seconds an answer may wait
    for a client that does not read) and ``inflight_budget`` (body bytes that all
    captures in flight may hold together) bound what clients can hold; None turns a
    timeout off. Public connections are capped below the file limit (``RLIMIT_NOFILE``);
    ``on_notice(text)`` is called on the agent thread when the cap is first reached.

    ``on_capture`` (and :meth:`add_capture_listener`) is called once per completed
    capture with its :class:`~ngrok_inspect.models.CapturedRequest`, on a thread of its
    own (never the proxy's): a listener that raises is logged and skipped, and one that
    is slow never holds up traffic. :meth:`stop` delivers what is still queued first.
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
        on_capture: CaptureListener | None = None,
        header_timeout: float | None = DEFAULT_HEADER_TIMEOUT,
        body_timeout: float | None = DEFAULT_BODY_TIMEOUT,
        inflight_budget: int = DEFAULT_INFLIGHT_BUDGET,
        on_notice: Callable[[str], None] | None = None,
        send_timeout: float | None = DEFAULT_SEND_TIMEOUT,
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
        for timeout in (header_timeout, body_timeout, send_timeout):
            if timeout is not None and timeout <= 0:
                raise UsageError(
                    "header, body and send timeouts must be positive", hint="Give seconds, e.g. 10"
                )
        self._specs = list(tunnels)
        self._web_addr = web_addr
        self._web_addr_tries = web_addr_tries
        self._feed = CaptureFeed([on_capture] if on_capture is not None else None)
        self._core = AgentCore(
            capture_limit=capture_limit,
            inspect_db_size=inspect_db_size,
            upstream_timeout=upstream_timeout,
            on_request=on_request,
            feed=self._feed,
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            inflight_budget=inflight_budget,
            on_notice=on_notice,
            send_timeout=send_timeout,
        )
        self._api = ApiListener(AgentApi(self._core))
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

    def add_capture_listener(self, listener: CaptureListener) -> None:
        """Call ``listener(captured_request)`` once for each capture completed from now on."""
        self._feed.add(listener)

    def remove_capture_listener(self, listener: CaptureListener) -> None:
        """Stop calling ``listener``."""
        self._feed.remove(listener)

    @property
    def captures_dropped(self) -> int:
        """Captures the listeners never got: they fell 10,000 behind (0 normally)."""
        return self._feed.dropped

    def start(self) -> LocalAgent:
        """Bind the listeners and start serving; raises UsageError when a port is taken."""
        if self._thread is not None:
            return self
        self._feed.start()
        loop = new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._astart())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                loop.run_until_complete(self._aclose())
                loop.close()
                ready.set()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._aclose())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="ngrok-inspect-agent", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            self._feed.close()
            raise failure[0]
        return self

    async def _astart(self) -> None:
        await self._core.open()
        self.api_url = await self._api.listen(self._web_addr, self._web_addr_tries)
        for spec in self._specs:
            await self._core.start_tunnel(spec)

    async def _aclose(self) -> None:
        await self._core.close()
        await self._api.close()

    def stop(self) -> None:
        """Close the listeners and stop the loop thread (idempotent)."""
        if self._thread is None or self._loop is None:
            return
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        self._feed.close()

    def send_request(self, raw: bytes, tunnel_name: str | None = None) -> CapturedRequest:
        """Send ``raw`` (a whole HTTP/1.x request) through a tunnel (the first when None)
        to its upstream, captured like any request but with ``remote_addr: "replayed"``;
        returns the new capture, answered. ``UsageError`` for a malformed request,
        ``TunnelNotFoundError`` for an unknown tunnel. (Over HTTP: ``POST
        /api/requests/http/replay``, ``AgentClient.send_request``.)"""
        assert self._loop is not None, "start the agent first"
        running = [t.name for t in self._core.tunnels]
        name = tunnel_name if tunnel_name is not None else (running[:1] or ["(none)"])[0]
        future = asyncio.run_coroutine_threadsafe(self._core.send(name, raw), self._loop)
        try:
            entry = future.result()
        except UnknownTunnel:
            raise TunnelNotFoundError(name, running) from None
        except InvalidRequest as exc:
            raise UsageError(
                f"cannot send that request: {exc.reason}",
                hint="Give a whole HTTP/1.1 request: request line, headers, CRLF CRLF, body",
            ) from None
        return CapturedRequest.from_api(self.call(entry.to_api))

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
