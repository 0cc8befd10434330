"""Bounds on what the public side can hold: time, connections and capture memory.

- **Header timeout**: a request head must be complete within ``header_timeout`` seconds
  of the connection opening, or of the first byte of the next request on a kept-alive
  connection (Go's ``ReadHeaderTimeout``, HAProxy's ``timeout http-request``); a head
  whose bytes came while the request before it was being handled (pipelined) gets the
  same time from that request's answer. Otherwise the agent answers ``408`` (when bytes
  came) and closes the connection. The API listener has the same clock.
- **Body idle timeout**: while the agent waits for request-body bytes, none for
  ``body_timeout`` seconds fails the request (nginx's ``client_body_timeout``). Time the
  agent itself is not reading (the upstream is slow to take the body) does not count.
- **Send timeout**: while an answer waits for the client to read what was written, no
  progress for ``send_timeout`` seconds cuts the connection (nginx's ``send_timeout``).
- **Connection cap**: public connections are capped below the process's file limit
  (``RLIMIT_NOFILE``), keeping a reserve of descriptors for the API, upstream
  connections and files, so a flood of public connections cannot stop the API.
- **In-flight budget**: body bytes held by captures that are still in flight (requests
  being received, answers being relayed) share one budget; beyond it a capture keeps a
  truncated copy while the bytes still flow through.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.streams import StreamReader

from ngrok_inspect.local_agent.heads import HeadTracker

DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 30.0
DEFAULT_SEND_TIMEOUT = 60.0
DEFAULT_INFLIGHT_BUDGET = 64 * 1024**2
# Descriptors kept free of public connections: the API listener and its clients, a
# listener per tunnel (at most 64), the event loop's own, stdio and files.
FD_RESERVE = 64
# Each public connection may hold one upstream connection (in flight or pooled).
FDS_PER_CONNECTION = 2
MIN_CONNECTIONS = 8
# A refused connection is answered 503 and kept a moment, its input read and dropped, so
# the answer is not lost to a reset (closing with unread input sends RST); only this many
# linger at once, the rest are reset at once.
REFUSED_LINGER = 0.5
MAX_LINGERING = 16


def file_limit() -> int | None:
    """The soft ``RLIMIT_NOFILE`` of this process (None where there is no such limit)."""
    try:
        import resource
    except ImportError:  # Windows: no RLIMIT_NOFILE
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def connection_cap(limit: int | None) -> int | None:
    """How many public connections fit under a file limit of ``limit`` descriptors.

    An eighth of the limit plus :data:`FD_RESERVE` stays free; each public connection
    counts twice (it may hold an upstream connection). ``None``: no cap.
    """
    if limit is None:
        return None
    reserve = FD_RESERVE + limit // 8
    return max(MIN_CONNECTIONS, (limit - reserve) // FDS_PER_CONNECTION)


class ConnectionCap:
    """Counts open public connections of every tunnel; refuses those beyond ``limit``.

    ``on_full(message)`` is called once, the first time a connection is refused.
    """

    def __init__(
        self, limit: int | None, file_limit: int | None, on_full: Callable[[str], None] | None
    ) -> None:
        self.limit = limit
        self.file_limit = file_limit
        self.open = 0
        self.refused = 0
        self.lingering = 0
        self._on_full = on_full

    def acquire(self) -> bool:
        """Count a new connection; False when the cap is reached (refuse it)."""
        if self.limit is not None and self.open >= self.limit:
            self.refused += 1
            if self.refused == 1 and self._on_full is not None:
                self._on_full(
                    f"Note: {self.open} public connections are open, the most the file limit "
                    f"of {self.file_limit} allows; new ones are answered 503 until some close "
                    "(raise it with 'ulimit -n')"
                )
            return False
        self.open += 1
        return True

    def release(self) -> None:
        """A counted connection closed."""
        self.open -= 1


class InflightBudget:
    """Body bytes that captures still in flight may hold, all of them together."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0

    def take(self, wanted: int) -> int:
        """Reserve up to ``wanted`` bytes; how many were granted."""
        granted = max(0, min(wanted, self.capacity - self.used))
        self.used += granted
        return granted

    def give(self, n: int) -> None:
        """Return ``n`` bytes taken before."""
        self.used -= n


class BodyTimeout(Exception):
    """No request-body byte arrived for ``seconds`` while the agent waited for one."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no request body byte for {seconds:g} s")
        self.seconds = seconds


class Deadline:
    """A cheap re-armable timer: ``arm()`` only moves a float once the handle exists
    (as aiohttp's keep-alive timer does), so arming it per read costs next to nothing."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, seconds: float, fire: Callable[[], None]
    ) -> None:
        self._loop = loop
        self.seconds = seconds
        self._fire = fire
        self._when = 0.0
        self._armed = False
        self._handle: asyncio.TimerHandle | None = None

    def arm(self) -> None:
        """Fire ``seconds`` from now unless disarmed or re-armed first."""
        self._when = self._loop.time() + self.seconds
        self._armed = True
        if self._handle is None:
            self._handle = self._loop.call_at(self._when, self._check)

    @property
    def armed(self) -> bool:
        """Armed and not yet fired."""
        return self._armed

    def disarm(self) -> None:
        """Do not fire (the pending handle, if any, wakes up and does nothing)."""
        self._armed = False

    def cancel(self) -> None:
        """Disarm and drop the pending handle."""
        self._armed = False
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _check(self) -> None:
        self._handle = None
        if not self._armed:
            return
        if self._loop.time() < self._when:
            self._handle = self._loop.call_at(self._when, self._check)
            return
        self._armed = False
        self._fire()


async def timed_chunks(
    stream: StreamReader, seconds: float | None
) -> AsyncIterator[tuple[bytes, bool]]:
    """``(data, ends_http_chunk)`` pieces of a request body until its end; raises
    :class:`BodyTimeout` when no byte comes for ``seconds`` while one is awaited."""
    deadline = None
    if seconds is not None and seconds > 0:
        deadline = Deadline(
            asyncio.get_running_loop(), seconds, lambda: stream.set_exception(BodyTimeout(seconds))
        )
    try:
        while True:
            if deadline is not None:
                deadline.arm()
            data, end = await stream.readchunk()
            if deadline is not None:
                deadline.disarm()
            if not data and not end:
                return
            yield data, end
    finally:
        if deadline is not None:
            deadline.cancel()


@dataclass
class PublicLimits:
    """The bounds shared by every tunnel's public listener."""

    header_timeout: float | None
    body_timeout: float | None
    connections: ConnectionCap
    budget: InflightBudget
    send_timeout: float | None = DEFAULT_SEND_TIMEOUT


def plain_answer(status: str, text: str, extra: str = "") -> bytes:
    body = text.encode() + b"\n"
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


HEAD_TIMED_OUT = plain_answer("408 Request Timeout", "The request head did not arrive in time.")
TOO_MANY = plain_answer(
    "503 Service Unavailable",
    "Too many connections to this agent; try again.",
    "Retry-After: 1\r\n",
)

_HEAD, _BUSY, _IDLE = "head", "busy", "idle"


class GuardedConnection(web.RequestHandler):
    """aiohttp's connection protocol with the header timeout: the API listener's (a
    tunnel's public side is :mod:`public`'s; the API's connections are never capped).

    The header clock runs from the connection's start, and on a kept-alive connection
    from the first byte of the next request, until the request handler is called
    (:meth:`head_done`); :meth:`request_done` makes the connection idle again (aiohttp's
    keep-alive timeout then governs), or starts the clock at once when bytes of a next
    head came while the request was handled (:class:`~.heads.HeadTracker` tells).
    """

    def __init__(self, manager: Any, *, limits: PublicLimits, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._state = _HEAD
        self._head_bytes = False
        self._heads = HeadTracker()
        self._payload: StreamReader | None = None  # the body of the request handled
        self._head_clock: Deadline | None = None
        if limits.header_timeout:
            self._head_clock = Deadline(
                asyncio.get_running_loop(), limits.header_timeout, self._head_timed_out
            )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the header clock."""
        super().connection_made(transport)
        self._start_head()

    def connection_lost(self, exc: BaseException | None) -> None:
        """Stop the header clock."""
        if self._head_clock is not None:
            self._head_clock.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """The first byte after an idle spell starts the next head's clock."""
        if data:
            self._heads.feed(data, self._body_read)
            if self._state is _IDLE:
                self._start_head()
            if self._state is _HEAD:
                self._head_bytes = True
        super().data_received(data)

    def _body_read(self) -> bool:
        return self._state is _BUSY and self._payload is not None and self._payload.is_eof()

    def head_done(self, request: web.BaseRequest) -> None:
        """A request head was parsed: its handler runs now."""
        self._state = _BUSY
        if self._head_clock is not None:
            self._head_clock.disarm()
        self._payload = request.content
        headers = request.headers
        self._heads.parsed(
            request.content_length,
            "Transfer-Encoding" in headers,  # chunked, or refused by the handler
            "Upgrade" in headers or request.method == "CONNECT",
        )

    def request_done(self) -> None:
        """The handler returned: the connection idles until the next request's first
        byte, or the next head's clock starts now if bytes of it came meanwhile."""
        self._payload = None
        self._head_bytes = False
        if self._heads.waiting():
            self._start_head()
            self._head_bytes = True
        else:
            self._state = _IDLE

    def _start_head(self) -> None:
        self._state = _HEAD
        if self._head_clock is not None:
            self._head_clock.arm()

    def _head_timed_out(self) -> None:
        if self._state is not _HEAD:
            return
        if self._head_bytes and self.transport is not None:
            self.transport.write(HEAD_TIMED_OUT)
        self.force_close()


def guarded(handler: Callable[[web.BaseRequest], Any]) -> Callable[[web.BaseRequest], Any]:
    """Wrap a request handler so the connection's header clock stops while it runs."""

    async def run(request: web.BaseRequest) -> web.StreamResponse:
        conn = request.protocol
        if isinstance(conn, GuardedConnection):
            conn.head_done(request)
        try:
            response: web.StreamResponse = await handler(request)
            return response
        finally:
            if isinstance(conn, GuardedConnection):
                conn.request_done()

    return run
