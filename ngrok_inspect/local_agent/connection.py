"""One keep-alive connection to a plain-HTTP upstream: write a request, read its answer.

The answer is parsed by llhttp (through ``httptools``) as its bytes arrive: the head
resolves :meth:`UpstreamConnection.read_head` and the body is fed to an aiohttp
``StreamReader`` with its chunk ends marked, so the proxy reads it as it reads any
aiohttp payload. Failures take aiohttp's client exception types, which the proxy maps
to 502/504 and :mod:`upstream` to its retry rule. This replaces aiohttp's client
``ResponseHandler`` on the pooled path: it was most of a proxied request's cost.

What the connection guarantees (RFC 9112 section 6, 9.3):

* 1xx answers are interim: dropped, the final answer follows (101 is refused: no
  request of this path asks for an upgrade);
* a byte that arrives while no request is out, or after a broken answer, makes the
  connection unusable: it is closed, never handed to the next request;
* an answer whose length is the connection's end (no Content-Length, not chunked)
  completes at EOF, and the connection is not reused; any other answer cut short fails
  its body with ``ClientPayloadError``;
* the head is bounded (:data:`HEAD_LIMIT`), so a hostile upstream cannot grow it in
  memory, and no byte for ``timeout`` seconds while one is awaited fails the exchange
  with ``ServerTimeoutError`` (the clock stops while the proxy holds the body back).
"""

from __future__ import annotations

import asyncio
import ctypes
import socket
from collections.abc import Callable
from typing import Any

import aiohttp
import httptools
from aiohttp import StreamReader
from aiohttp.http import HttpVersion
from aiohttp.http_exceptions import HttpProcessingError

from ngrok_inspect.local_agent.limits import Deadline

HEAD_LIMIT = 64 * 1024  # bytes of an answer's status line and fields
FIELD_LIMIT = 8190  # one field, name and value (aiohttp's own parser's limit)
READ_BUFSIZE = 2**16
_VERSIONS = {"1.1": HttpVersion(1, 1), "1.0": HttpVersion(1, 0)}

_IDLE, _HEAD, _BODY, _BROKEN = range(4)

# Linux: an upstream that writes head and body in two sends (Nagle on its side) waits for
# our ACK of the head; a delayed ACK makes that 40 ms per request. So when a read leaves
# an answer unfinished, quick-ACK is set on the socket: the kernel sends the pending ACK
# at once (and the rest follows). From then on that connection re-arms it as each request
# goes out (quick-ACK mode is not sticky), so the kernel ACKs the head as it arrives,
# without waiting for the agent to read. Answers that come whole cost no system call.
QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def fd_quickack_setter() -> Callable[[int], object] | None:
    """``setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, 1)`` on a bare descriptor, one system
    call; uvloop's transport socket builds a new ``socket`` object (three more system
    calls) for each ``setsockopt``. None where libc cannot be loaded."""
    if QUICKACK is None:
        return None
    try:
        setsockopt = ctypes.CDLL(None, use_errno=True).setsockopt
    except (OSError, AttributeError):
        return None
    setsockopt.argtypes = (
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_uint,
    )
    setsockopt.restype = ctypes.c_int
    one = ctypes.c_int(1)
    level, name, ref, size = socket.IPPROTO_TCP, QUICKACK, ctypes.byref(one), ctypes.sizeof(one)

    def quickack(fd: int) -> object:
        return setsockopt(fd, level, name, ref, size)

    return quickack


QUICKACK_FD = fd_quickack_setter()


class Head:
    """An answer's status line and fields, as the proxy reads them."""

    __slots__ = ("code", "content_length", "raw_headers", "reason", "should_close", "version")

    def __init__(
        self,
        code: int,
        reason: str,
        version: HttpVersion,
        raw_headers: tuple[tuple[bytes, bytes], ...],
        content_length: int | None,
        should_close: bool,
    ) -> None:
        self.code = code
        self.reason = reason
        self.version = version
        self.raw_headers = raw_headers
        self.content_length = content_length
        self.should_close = should_close


class UpstreamConnection(asyncio.Protocol):
    """An asyncio protocol for one upstream connection, one exchange at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float | None) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        # aiohttp's parser is lenient with field values in answers too (obs-text, controls)
        self._parser.set_dangerous_leniencies(lenient_headers=True)
        self._state = _IDLE
        self._head_bytes = 0
        self._reason = b""
        self._fields: list[tuple[bytes, bytes]] = []
        self._length: int | None = None
        self._chunked = False
        self._waiter: asyncio.Future[tuple[Head, StreamReader]] | None = None
        self._payload: StreamReader | None = None
        self._failure: BaseException | None = None
        self.should_close = False
        self._reading_paused = False  # read by aiohttp's StreamReader (flow control)
        self._quickack: Callable[[], object] | None = None
        self._split = False  # an answer came in parts: quick-ACK before each answer
        self._clock = Deadline(loop, timeout, self._timed_out) if timeout else None

    # -- the pool's side ---------------------------------------------------------------

    def is_connected(self) -> bool:
        """Open and able to carry another exchange."""
        return self.transport is not None and not self.transport.is_closing()

    @property
    def connected(self) -> bool:
        """Read by aiohttp's ``StreamReader``."""
        return self.transport is not None

    def reusable(self) -> bool:
        """The last exchange ended cleanly and the upstream keeps the connection."""
        return self._state == _IDLE and not self.should_close and self.is_connected()

    def close(self) -> None:
        """Close the connection (an exchange in progress fails)."""
        self._state = _BROKEN
        if self.transport is not None:
            self.transport.close()

    def send(self, data: bytes) -> asyncio.Future[tuple[Head, StreamReader]]:
        """Write one request; the future is the answer's head and its body stream."""
        assert self._state == _IDLE and self.transport is not None
        self._state = _HEAD
        self._head_bytes = 0
        self._failure = None
        self._waiter = self._loop.create_future()
        self.transport.write(data)
        if self._split and self._quickack is not None:
            self._quickack()
        if self._clock is not None:
            self._clock.arm()
        return self._waiter

    # -- asyncio -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock: Any = transport.get_extra_info("socket")
        if sock is not None and QUICKACK is not None:
            if QUICKACK_FD is not None:
                fd, setter = sock.fileno(), QUICKACK_FD
                self._quickack = lambda: setter(fd)
            else:
                self._quickack = lambda: sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)

    def connection_lost(self, exc: BaseException | None) -> None:
        state, self._state = self._state, _BROKEN
        if self._clock is not None:
            self._clock.cancel()
        if state == _HEAD:
            failure: BaseException = (
                aiohttp.ClientOSError(*exc.args)
                if isinstance(exc, OSError)
                else aiohttp.ServerDisconnectedError()
            )
            self._fail(failure)
        elif state == _BODY and self._payload is not None:
            if self._length is None and not self._chunked:
                # RFC 9112 section 6.3: the connection's end is this answer's end
                self._payload.feed_eof()
                self._payload = None
            else:
                self._fail(aiohttp.ClientPayloadError("the upstream broke off mid-answer"))
        self.transport = None
        self._quickack = None  # the descriptor may be reused by another socket

    def data_received(self, data: bytes) -> None:
        state = self._state
        if state in (_IDLE, _BROKEN):
            # bytes no request asked for: never let the next request read them
            self.close()
            return
        if self._clock is not None:
            self._clock.arm()
        if state == _HEAD:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._failure = self._failure or aiohttp.ServerDisconnectedError(
                "101 without an Upgrade request"
            )
        except httptools.HttpParserError as exc:
            self._failure = self._failure or HttpProcessingError(message=str(exc)[:100])
        if self._failure is None and self._state == _HEAD and self._head_bytes > HEAD_LIMIT:
            self._failure = HttpProcessingError(message="answer head too long")
        if self._failure is not None:
            failure, self._failure = self._failure, None
            self._fail(failure)
            self.close()
        elif self._quickack is not None and self._state in (_HEAD, _BODY):
            self._quickack()  # the answer is unfinished: ACK what came now (see QUICKACK)
            self._split = True

    def pause_reading(self) -> None:
        """The body's reader holds enough: stop reading (and the clock) until it drains."""
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()
            if self._clock is not None:
                self._clock.disarm()

    def resume_reading(self, resume_parser: bool = True) -> None:
        """Read again (``resume_parser``: aiohttp's signature; nothing is held back here)."""
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
            if self._clock is not None and self._state != _IDLE:
                self._clock.arm()

    # -- llhttp's callbacks --------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._state != _HEAD:
            # a second answer to one request (in the same read as the first): the
            # connection is out of step with its requests and is never reused
            self._failure = self._failure or HttpProcessingError(message="an unasked answer")
        self._reason = b""
        self._fields = []
        self._length = None
        self._chunked = False

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) + len(value) > FIELD_LIMIT:
            self._failure = self._failure or HttpProcessingError(message="header too long")
            return
        value = value.rstrip(b" \t")  # llhttp strips the OWS before a value, not after
        self._fields.append((name, value))
        low = name.lower()
        if low == b"content-length" and value.isdigit():
            self._length = int(value)
        elif low == b"transfer-encoding" and value.lower().endswith(b"chunked"):
            self._chunked = True  # before the first chunk: the answer's end is not EOF

    def on_headers_complete(self) -> None:
        if self._failure is not None or self._state != _HEAD:
            return
        code = self._parser.get_status_code()
        if 100 <= code < 200:
            if code == 101:
                self._failure = aiohttp.ServerDisconnectedError("101 without an Upgrade request")
            return  # RFC 9110 section 15.2: interim; the final answer follows
        payload = StreamReader(self, READ_BUFSIZE, loop=self._loop)  # type: ignore[arg-type]
        head = Head(
            code,
            self._reason.decode("latin-1"),
            _VERSIONS.get(self._parser.get_http_version(), HttpVersion(1, 1)),
            tuple(self._fields),
            self._length,
            not self._parser.should_keep_alive(),
        )
        self.should_close = head.should_close
        self._state = _BODY
        self._payload = payload
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((head, payload))

    def on_body(self, body: bytes) -> None:
        if self._payload is not None:
            self._payload.feed_data(body)

    def on_chunk_header(self) -> None:
        self._chunked = True
        if self._payload is not None and self._state == _BODY:
            self._payload.begin_http_chunk_receiving()

    def on_chunk_complete(self) -> None:
        if self._payload is not None and self._state == _BODY:
            self._payload.end_http_chunk_receiving()

    def on_message_complete(self) -> None:
        if self._state != _BODY:
            return  # an interim answer's end
        self._state = _IDLE
        if self._clock is not None:
            self._clock.disarm()
        payload, self._payload = self._payload, None
        if payload is not None:
            payload.feed_eof()

    # -- failures ------------------------------------------------------------------------

    def _timed_out(self) -> None:
        if self._state in (_HEAD, _BODY):
            self._fail(aiohttp.ServerTimeoutError("Timeout on reading data from socket"))
            self.close()

    def _fail(self, exc: BaseException) -> None:
        self._state = _BROKEN
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        payload, self._payload = self._payload, None
        if payload is not None and not payload.is_eof():
            payload.set_exception(exc)
