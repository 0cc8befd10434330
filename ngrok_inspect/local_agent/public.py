"""The public side of a tunnel: HTTP/1.1 connections from clients, parsed by llhttp.

Each connection parses its bytes with llhttp (through ``httptools``, strict: no
leniency) as they arrive. A request whose head is complete is handed to the tunnel's
handler with its body as an aiohttp ``StreamReader`` (chunk ends marked, so the capture
keeps the chunk sizes); requests pipelined behind it wait, in order, and the answer to
each goes out through its :class:`Reply`, framed by the agent. aiohttp's server did this
before, at about a third of a proxied request's cost; owning the parser's callbacks also
tells exactly where each head begins and ends, which the limits need:

* **header timeout**: from the connection's start, or from the first byte of the next
  request on a kept-alive connection, the head must be complete within
  ``header_timeout``; a head begun while the request before it was handled (pipelined)
  gets that time from the end of that request's answer. Then ``408`` (when bytes of a
  head came) and the connection closes;
* **keep-alive**: an idle connection is closed after :data:`KEEPALIVE` seconds;
* **head size**: a target over :data:`MAX_TARGET` bytes is ``414``, a field over
  :data:`MAX_FIELD` or a head over :data:`MAX_HEAD` is ``431``; what llhttp refuses is
  ``400``; the connection closes after each (what came before it is answered first);
* **connection cap**: beyond :class:`~limits.ConnectionCap`'s limit a connection is
  answered ``503`` at once;
* **back-pressure**: reading pauses while :data:`MAX_QUEUED` requests wait behind the
  one being handled, or its body's reader holds enough (aiohttp's ``StreamReader``
  flow control); writing waits for the client to read (``Reply.write``), at most
  ``send_timeout`` seconds without progress (then :class:`ClientStalled`, and the
  connection is cut);
* a client that goes away cancels its request's handler.

An ``Upgrade`` request (a WebSocket handshake) ends HTTP on the connection for llhttp:
its handler may :meth:`PublicConnection.splice` the connection to another protocol
(the bytes that came after the head first), or answer normally, after which the
connection goes on with a new parser.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import cast

import httptools
from aiohttp import EMPTY_PAYLOAD, StreamReader
from aiohttp.http import HttpVersion

from ngrok_inspect.local_agent.limits import (
    HEAD_TIMED_OUT,
    MAX_LINGERING,
    REFUSED_LINGER,
    TOO_MANY,
    ConnectionCap,
    Deadline,
    PublicLimits,
    plain_answer,
)
from ngrok_inspect.local_agent.metrics import TunnelMetrics

LOG = logging.getLogger("ngrok_inspect.local_agent")

KEEPALIVE = 75.0  # seconds an idle kept-alive connection stays open
LINGER = 1.0  # seconds input is still read (and dropped) after an answer that closes
MAX_TARGET = 8190
MAX_FIELD = 8190  # name and value of one field
MAX_HEAD = 64 * 1024
MAX_QUEUED = 16  # parsed requests waiting behind the one handled before reading pauses
READ_LIMIT = 2**16  # a body's reader pauses the connection past twice this
_VERSIONS = {"1.1": HttpVersion(1, 1), "1.0": HttpVersion(1, 0)}
_NO_BODY_STATUS = frozenset({204, 304})

BAD_REQUEST = plain_answer("400 Bad Request", "The request is not valid HTTP/1.1.")
TARGET_TOO_LONG = plain_answer("414 URI Too Long", "The request target is too long.")
HEAD_TOO_LARGE = plain_answer(
    "431 Request Header Fields Too Large", "The request head is too large."
)


class ClientStalled(ConnectionError):
    """The client read nothing of an answer for ``send_timeout`` seconds."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the client read nothing for {seconds:g} s")
        self.seconds = seconds


class PublicRequest:
    """One parsed request: its head as it came, its body as a stream."""

    __slots__ = (
        "body_exists",
        "chunked",
        "content",
        "content_length",
        "expect_continue",
        "keep_alive",
        "method",
        "raw_headers",
        "raw_path",
        "remote",
        "reply",
        "upgrade",
        "version",
    )

    def __init__(self) -> None:
        self.method = ""
        self.raw_path = ""
        self.version = HttpVersion(1, 1)
        self.raw_headers: tuple[tuple[bytes, bytes], ...] = ()
        self.content: StreamReader = EMPTY_PAYLOAD
        self.content_length: int | None = None
        self.chunked = False
        self.body_exists = False
        self.expect_continue = False
        self.keep_alive = True
        self.upgrade = b""  # b"websocket" for a handshake the agent may take, else b""
        self.remote = ""
        self.reply: Reply = cast("Reply", None)


class Reply:
    """The answer to one request, framed by the agent: :meth:`whole` in one write, or
    :meth:`start`, :meth:`write` and :meth:`end` for a streamed body."""

    __slots__ = ("_chunked", "_conn", "_head_only", "close", "started")

    def __init__(self, conn: PublicConnection, method: str, keep_alive: bool) -> None:
        self._conn = conn
        self._head_only = method == "HEAD"
        self._chunked = False
        self.close = not keep_alive  # the connection closes after this answer
        self.started = False

    def interim(self, head: bytes) -> None:
        """A 1xx answer (``100 Continue``) ahead of the final one."""
        transport = self._conn.transport
        if transport is not None and not self.started:
            transport.write(head)

    def _head(
        self, status: int, reason: str, fields: Iterable[tuple[bytes, bytes]], framing: bytes
    ) -> list[bytes]:
        self.started = True
        lines = [b"HTTP/1.1 %d %s\r\n" % (status, reason.encode("latin-1"))]
        lines.extend(k + b": " + v + b"\r\n" for k, v in fields)
        lines.append(framing)
        if self.close:
            lines.append(b"Connection: close\r\n\r\n")
        elif not self._conn.http11:
            lines.append(b"Connection: keep-alive\r\n\r\n")  # asked for, or it would close
        else:
            lines.append(b"\r\n")
        return lines

    def whole(
        self,
        status: int,
        reason: str,
        fields: Iterable[tuple[bytes, bytes]],
        body: bytes,
        *,
        close: bool = False,
    ) -> None:
        """The whole answer in one write (``fields`` without framing ones: the agent sets
        ``Content-Length``; no body goes out for HEAD, 204 and 304)."""
        self.close = self.close or close
        framing = b"" if status in _NO_BODY_STATUS else b"Content-Length: %d\r\n" % len(body)
        lines = self._head(status, reason, fields, framing)
        if body and not self._head_only and status not in _NO_BODY_STATUS:
            lines.append(body)
        transport = self._conn.transport
        if transport is not None:
            transport.write(b"".join(lines))

    def page(
        self,
        status: int,
        reason: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        *,
        close: bool = False,
    ) -> None:
        """One of the agent's own pages (:func:`~wire.error_page`'s headers and body)."""
        fields = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        self.whole(status, reason, fields, body, close=close)

    def start(
        self,
        status: int,
        reason: str,
        fields: Iterable[tuple[bytes, bytes]],
        length: int | None,
    ) -> None:
        """The head of a streamed answer: ``Content-Length`` when ``length`` is known,
        else chunks to an HTTP/1.1 client, else the connection's end."""
        no_body = self._head_only or status in _NO_BODY_STATUS
        if length is not None:
            framing = b"Content-Length: %d\r\n" % length
        elif no_body:
            framing = b""
        elif self._conn.http11:
            framing = b"Transfer-Encoding: chunked\r\n"
            self._chunked = True
        else:
            framing = b""
            self.close = True
        transport = self._conn.transport
        if transport is not None:
            transport.write(b"".join(self._head(status, reason, fields, framing)))

    async def write(self, data: bytes) -> None:
        """Body bytes; waits while the client does not read (ConnectionResetError when
        it is gone)."""
        conn = self._conn
        transport = conn.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client closed the connection")
        if not data or self._head_only:
            return
        if self._chunked:
            transport.write(b"%x\r\n%b\r\n" % (len(data), data))
        else:
            transport.write(data)
        if conn.write_paused:
            await conn.drain()

    def end(self) -> None:
        """The end of a streamed body."""
        transport = self._conn.transport
        if self._chunked and transport is not None:
            transport.write(b"0\r\n\r\n")

    def splice(self, sink: asyncio.Protocol) -> asyncio.Transport | None:
        """Hand the connection to ``sink`` (see :meth:`PublicConnection.splice`); it
        closes when ``sink`` is done."""
        self.started = self.close = True
        return self._conn.splice(sink)

    def cut(self) -> None:
        """Close the connection mid-answer, so the client sees the answer end early."""
        self.close = True
        transport = self._conn.transport
        if transport is not None:
            transport.close()


Handler = Callable[[PublicRequest], Awaitable[None]]

_IDLE, _HEAD = "idle", "head"


class PublicConnection(asyncio.Protocol):
    """One client connection: parse, queue, hand each request to ``handler`` in order."""

    def __init__(self, server: PublicServer) -> None:
        self._server = server
        self._loop = server.loop
        self._handler = server.handler
        self._limits = server.limits
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self.remote = ""
        self.http11 = True  # of the request being answered
        self._counted = False
        self._refused = False
        self._closing = False
        self._state = _IDLE  # _HEAD while a head is being parsed
        self._head_size = 0
        self._reject: bytes | None = None  # the answer to a broken head, once its turn comes
        self._upgraded = False  # llhttp stopped at an Upgrade/CONNECT head
        self._rest = b""  # bytes after such a head
        self._sink: asyncio.Protocol | None = None  # where a spliced connection's bytes go
        self._last: PublicRequest | None = None  # the request whose head was parsed last
        self._raw_body: PublicRequest | None = None  # a declined Upgrade's, fed by hand
        self._raw_left = 0
        self._request: PublicRequest | None = None  # being parsed
        self._fields: list[tuple[bytes, bytes]] = []
        self._target = b""
        self._queue: deque[PublicRequest] = deque()
        self._current: PublicRequest | None = None  # being handled
        self._task: asyncio.Task[None] | None = None
        self._reading_paused = False  # read by aiohttp's StreamReader (flow control)
        self._body_paused = False
        self.write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._opened = 0
        timeout = self._limits.header_timeout
        self._head_clock = Deadline(self._loop, timeout, self._head_timed_out) if timeout else None
        self._idle_clock = Deadline(self._loop, KEEPALIVE, self._idle_timed_out)

    @property
    def connected(self) -> bool:
        """Read by aiohttp's ``StreamReader``."""
        return self.transport is not None

    # -- asyncio -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Count the connection (or refuse it at the cap); start the header clock."""
        self.transport = transport = cast(asyncio.Transport, transport)
        cap = self._limits.connections
        if not cap.acquire():
            self._refuse(cap, transport)
            return
        self._counted = True
        self._opened = time.monotonic_ns()
        self._server.opened(self)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.remote = str(peer[0])
        if self._head_clock is not None:
            self._head_clock.arm()

    def _refuse(self, cap: ConnectionCap, transport: asyncio.Transport) -> None:
        """A 503; the descriptor is freed within moments."""
        self._refused = True
        if cap.lingering >= MAX_LINGERING:
            transport.abort()
            return
        cap.lingering += 1
        transport.write(TOO_MANY)
        self._loop.call_later(REFUSED_LINGER, transport.close)

    def connection_lost(self, exc: BaseException | None) -> None:
        """Give back the connection's place; a request being handled is cancelled."""
        self.transport = None
        if self._refused:
            self._refused = False
            self._limits.connections.lingering -= 1
            return
        if self._counted:
            self._counted = False
            self._limits.connections.release()
            self._server.closed(self, time.monotonic_ns() - self._opened)
        if self._head_clock is not None:
            self._head_clock.cancel()
        self._idle_clock.cancel()
        gone = ConnectionResetError("the client closed the connection")
        for request in (self._current, self._request, *self._queue):
            if request is not None and request.body_exists and not request.content.is_eof():
                request.content.set_exception(gone)
        self._queue.clear()
        if self._task is not None and not self._task.done():
            self._task.cancel()
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(gone)
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.connection_lost(exc if isinstance(exc, Exception) or exc is None else None)

    def data_received(self, data: bytes) -> None:
        if self._sink is not None:
            self._sink.data_received(data)
            return
        if self._refused or self._closing:
            return  # read and dropped, so closing sends FIN rather than a reset
        if self._upgraded:
            self._rest += data  # read before the pause took effect
            return
        if self._reject is not None:
            return
        if self._raw_body is not None:
            data = self._feed_raw_body(data)
            if not data:
                return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._upgrade(data[int(upgrade.args[0]) :])
        except httptools.HttpParserError:
            self._reject = self._reject or BAD_REQUEST
        if self._reject is not None:
            self._broken()

    def _upgrade(self, rest: bytes) -> None:
        """llhttp stopped after an Upgrade (or CONNECT) head: what follows is the other
        protocol's if the handler takes it (held, no more read until it decides);
        otherwise the upgrade is declined here and now, and the request's body (as plain
        bytes: llhttp did not parse it) and then HTTP/1.1 go on."""
        if self._reject is not None:
            return  # refused at its head: nothing more is read
        request = self._last
        if request is not None and (request.upgrade or request.method == "CONNECT"):
            self._upgraded = True
            self._rest = rest
            if self.transport is not None:
                self.transport.pause_reading()
            return
        if request is not None and request.body_exists:
            self._raw_body, self._raw_left = request, request.content_length or 0
        self._parse_again(rest)

    def _parse_again(self, rest: bytes) -> None:
        """HTTP/1.1 goes on after an Upgrade head with a new parser (llhttp's own stops
        there for good), from ``rest``."""
        self._parser = httptools.HttpRequestParser(self)
        if rest:
            self.data_received(rest)

    def _feed_raw_body(self, data: bytes) -> bytes:
        """The body of a declined Upgrade request, by its ``Content-Length``; the bytes
        after it."""
        request = self._raw_body
        assert request is not None
        piece, data = data[: self._raw_left], data[self._raw_left :]
        self._raw_left -= len(piece)
        request.content.feed_data(piece)
        if not self._raw_left:
            request.content.feed_eof()
            self._raw_body = None
        return data

    def pause_reading(self) -> None:
        """A body's reader holds enough: stop reading until it drains."""
        self._body_paused = True
        self._set_reading()

    def resume_reading(self, resume_parser: bool = True) -> None:
        """Read again (``resume_parser``: aiohttp's signature)."""
        self._body_paused = False
        self._set_reading()

    def _set_reading(self) -> None:
        paused = self._body_paused or len(self._queue) >= MAX_QUEUED
        if paused != self._reading_paused and self.transport is not None:
            self._reading_paused = paused
            if paused:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def pause_writing(self) -> None:
        self.write_paused = True
        if self._sink is not None:
            self._sink.pause_writing()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self._sink is not None:
            self._sink.resume_writing()
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def drain(self) -> None:
        """Wait until the client has read enough of what was written."""
        if not self.write_paused:
            return
        if self.transport is None:
            raise ConnectionResetError("the client closed the connection")
        if self._drain_waiter is None:
            self._drain_waiter = self._loop.create_future()
        seconds = self._limits.send_timeout
        try:
            await asyncio.wait_for(asyncio.shield(self._drain_waiter), seconds)
        except asyncio.TimeoutError:
            assert seconds is not None
            if self.transport is not None:
                self.transport.abort()
            raise ClientStalled(seconds) from None

    # -- llhttp's callbacks --------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._state = _HEAD
        self._head_size = 0
        self._target = b""
        self._fields = []
        self._last = None
        self._request = PublicRequest()
        self._idle_clock.disarm()
        clock = self._head_clock
        # the first head's clock runs from the connection's start: not re-armed
        if clock is not None and self._current is None and not self._queue and not clock.armed:
            clock.arm()

    def on_url(self, url: bytes) -> None:
        self._target += url
        if len(self._target) > MAX_TARGET:
            self._reject = self._reject or TARGET_TOO_LONG

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._state is not _HEAD:
            return  # trailer fields: not forwarded (as aiohttp's server did)
        size = len(name) + len(value)
        self._head_size += size + 4
        if size > MAX_FIELD or self._head_size > MAX_HEAD:
            self._reject = self._reject or HEAD_TOO_LARGE
            return
        self._fields.append((name, value))

    def on_headers_complete(self) -> None:
        self._state = _IDLE
        request = self._request
        if request is None or self._reject is not None:
            return
        parser = self._parser
        request.method = parser.get_method().decode("latin-1")
        request.raw_path = self._target.decode("latin-1")
        request.version = _VERSIONS.get(parser.get_http_version(), HttpVersion(1, 1))
        request.raw_headers = fields = tuple(self._fields)
        request.keep_alive = parser.should_keep_alive()
        request.remote = self.remote
        length: int | None = None
        upgrade = b""
        for k, v in fields:
            low = k.lower()
            if low == b"content-length":
                length = int(v)  # llhttp accepted it: digits, and one value
            elif low == b"transfer-encoding":
                request.chunked = True  # llhttp accepts only a final "chunked"
            elif low == b"expect":
                request.expect_continue = v.strip().lower() == b"100-continue"
            elif low == b"upgrade":
                upgrade = v.strip().lower()
        request.content_length = length
        if request.chunked or (length or 0) > 0:
            request.body_exists = True
            request.content = StreamReader(self, READ_LIMIT, loop=self._loop)  # type: ignore[arg-type]
        if parser.should_upgrade():
            if request.chunked:
                # llhttp leaves the body of an Upgrade request unparsed; a chunked one
                # cannot be followed without it
                self._reject = self._reject or BAD_REQUEST
                return
            if upgrade == b"websocket" and request.method == "GET" and not request.body_exists:
                request.upgrade = upgrade  # the one upgrade the agent may take
        request.reply = Reply(self, request.method, request.keep_alive)
        self._last = request
        if self._head_clock is not None and self._current is None and not self._queue:
            self._head_clock.disarm()
        self._queue.append(request)
        if len(self._queue) >= MAX_QUEUED:
            self._set_reading()
        if self._current is None:
            self._next()

    def on_body(self, body: bytes) -> None:
        request = self._request
        if request is not None and request.body_exists:
            request.content.feed_data(body)

    def on_chunk_header(self) -> None:
        request = self._request
        if request is not None and request.body_exists:
            request.content.begin_http_chunk_receiving()

    def on_chunk_complete(self) -> None:
        request = self._request
        if request is not None and request.body_exists:
            request.content.end_http_chunk_receiving()

    def on_message_complete(self) -> None:
        request, self._request = self._request, None
        if request is not None and request.body_exists:
            if self._parser.should_upgrade():
                return  # llhttp ends an Upgrade request at its head: the body comes raw
            request.content.feed_eof()

    # -- handling, in order --------------------------------------------------------------

    def _next(self) -> None:
        """Start handling the next queued request, if any."""
        if not self._queue or self.transport is None or self._closing:
            return
        request = self._current = self._queue.popleft()
        self.http11 = request.version == HttpVersion(1, 1)
        if len(self._queue) == MAX_QUEUED - 1:
            self._set_reading()
        self._task = self._loop.create_task(self._handle(request))

    async def _handle(self, request: PublicRequest) -> None:
        reply = request.reply
        try:
            await self._handler(request)
        except Exception:  # a bug: the client gets a 500, the connection closes
            LOG.exception("request handler failed")
            if not reply.started:
                reply.whole(500, "Internal Server Error", (), b"", close=True)
            reply.close = True
        finally:
            self._task = None
        self._current = None
        if self.transport is None:
            return
        if not reply.started or reply.close:
            self._close_after_answer(request)
            return
        if request.body_exists and not request.content.is_eof():
            # the body was not read to its end: where the next request begins is unknown
            self._close_after_answer(request)
            return
        if self._upgraded:
            # an Upgrade the handler answered normally: HTTP goes on with a new parser
            self._upgraded = False
            rest, self._rest = self._rest, b""
            self.transport.resume_reading()
            self._parse_again(rest)
            if self.transport is None or self._closing:
                return
        if self._queue:
            self._next()
            return
        if self._reject is not None:
            self._broken()
            return
        if self._state is _HEAD:
            # a head begun while this request was handled: its time starts now
            if self._head_clock is not None:
                self._head_clock.arm()
        else:
            self._idle_clock.arm()

    def splice(self, sink: asyncio.Protocol) -> asyncio.Transport | None:
        """Take the connection out of HTTP (an accepted Upgrade): from now on what it
        reads goes to ``sink`` (the bytes after the head first), and so do its end and
        its write flow control. The transport to write to; None when the client is gone."""
        transport = self.transport
        if transport is None or not self._upgraded:
            return None
        self._sink = sink
        if self._head_clock is not None:
            self._head_clock.cancel()
        self._idle_clock.cancel()
        rest, self._rest = self._rest, b""
        if rest:
            sink.data_received(rest)
        transport.resume_reading()
        return transport

    def eof_received(self) -> bool | None:
        if self._sink is not None:
            return self._sink.eof_received()
        return None  # the transport closes

    # -- closing -------------------------------------------------------------------------

    def _broken(self) -> None:
        """A head llhttp (or a bound) refused: answered once the requests before it are."""
        if self._current is not None or self._queue:
            return
        answer, self._reject = self._reject, None
        if self.transport is not None and answer is not None:
            self.transport.write(answer)
        self._linger()

    def _close_after_answer(self, request: PublicRequest) -> None:
        unread = request.body_exists and not request.content.is_eof()
        if unread or self._state is _HEAD:
            self._linger()
        elif self.transport is not None:
            self._closing = True
            self.transport.close()

    def _linger(self) -> None:
        """Close, reading (and dropping) input for a moment first, so the answer is not
        lost to a reset (closing with unread input sends RST)."""
        transport = self.transport
        if transport is None:
            return
        self._closing = True
        if self._head_clock is not None:
            self._head_clock.cancel()
        self._idle_clock.cancel()
        if self._reading_paused:
            self._reading_paused = self._body_paused = False
            transport.resume_reading()
        if transport.can_write_eof():
            transport.write_eof()
        self._loop.call_later(LINGER, transport.close)

    def _head_timed_out(self) -> None:
        if self.transport is None or self._current is not None or self._queue:
            return
        if self._state is _HEAD:
            self.transport.write(HEAD_TIMED_OUT)
            self._linger()
        else:
            self._closing = True
            self.transport.close()

    def _idle_timed_out(self) -> None:
        if self.transport is not None and self._current is None and not self._queue:
            self._closing = True
            self.transport.close()

    def close_idle(self) -> asyncio.Task[None] | None:
        """Close now if no request is being handled; else the task handling one."""
        if self._current is not None and self._task is not None:
            return self._task
        if self.transport is not None:
            self._closing = True
            self.transport.close()
        return None

    def abort(self) -> None:
        """Close now, whatever is in flight."""
        if self.transport is not None:
            self.transport.abort()


class PublicServer:
    """The protocol factory of one tunnel's listener, and its open connections."""

    def __init__(self, handler: Handler, metrics: TunnelMetrics, limits: PublicLimits) -> None:
        self.handler = handler
        self.metrics = metrics
        self.limits = limits
        self.loop = asyncio.get_running_loop()
        self.connections: set[PublicConnection] = set()

    def __call__(self) -> PublicConnection:
        return PublicConnection(self)

    def opened(self, conn: PublicConnection) -> None:
        self.connections.add(conn)
        self.metrics.conn_opened()

    def closed(self, conn: PublicConnection, lived_ns: int) -> None:
        self.connections.discard(conn)
        self.metrics.conn_closed(lived_ns)

    async def shutdown(self, grace: float) -> None:
        """Close idle connections now, busy ones once answered or after ``grace``."""
        busy = [t for t in (c.close_idle() for c in list(self.connections)) if t is not None]
        if busy:
            await asyncio.wait(busy, timeout=grace)
        for conn in list(self.connections):
            if conn.close_idle() is not None:
                conn.abort()
