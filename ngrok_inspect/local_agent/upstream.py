"""A lean keep-alive connection pool to a plain-HTTP upstream, for bodies held in memory.

It writes the request itself (head built from the forwarded headers, body bytes) and
reads the answer with aiohttp's own response protocol and C parser
(``aiohttp.client_proto.ResponseHandler``), skipping ``ClientSession``'s per-request
machinery, which is most of a proxied request's cost. Streaming request bodies, TLS
upstreams and WebSockets still go through ``ClientSession``.

The answer is wrapped in :class:`PooledResponse`, which has the attributes of
``aiohttp.ClientResponse`` the proxy uses (``status``, ``reason``, ``version``,
``raw_headers``, ``content``, ``content_length``, ``read()``, ``release()``).
"""

from __future__ import annotations

import asyncio
import ctypes
import socket
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler

MAX_IDLE = 256
# Linux: an upstream that writes head and body in two sends (Nagle on its side) waits for
# our ACK of the head; a delayed ACK makes that 40 ms per request. Quick-ACK mode is not
# sticky, so it is re-armed before each answer is read.
QUICKACK = getattr(socket, "TCP_QUICKACK", None)
# RFC 9110 section 9.2.2: only these may be sent again after a connection failed
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


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


class PooledResponse:
    """The parts of an upstream answer the proxy reads; ``release()`` returns the conn."""

    def __init__(self, pool: UpstreamPool, proto: ResponseHandler, message: Any, payload: Any):
        self._pool = pool
        self._proto: ResponseHandler | None = proto
        self.status: int = message.code
        self.reason: str = message.reason
        self.version = message.version
        self.raw_headers: tuple[tuple[bytes, bytes], ...] = message.raw_headers
        self.content = payload
        self._should_close = bool(message.should_close)
        length = message.headers.get("Content-Length")
        self.content_length = int(length) if length is not None and length.isdigit() else None

    async def read(self) -> bytes:
        """The whole body."""
        return bytes(await self.content.read())

    def release(self) -> None:
        """Give the connection back (or close it when it cannot be reused)."""
        proto, self._proto = self._proto, None
        if proto is None:
            return
        if self._should_close or not self.content.is_eof():
            self._pool.discard(proto)
        else:
            self._pool.put(proto)


class UpstreamPool:
    """Idle keep-alive connections to one ``host:port``."""

    def __init__(self, host: str, port: int, *, timeout: float) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._idle: list[ResponseHandler] = []
        # each connection's socket (or, with QUICKACK_FD, its descriptor), looked up once
        self._sockets: dict[ResponseHandler, Any] = {}

    def put(self, proto: ResponseHandler) -> None:
        """Keep an idle connection for the next request."""
        if proto.is_connected() and not proto.should_close and len(self._idle) < MAX_IDLE:
            self._idle.append(proto)
        else:
            self.discard(proto)

    def discard(self, proto: ResponseHandler) -> None:
        """Close a connection that will not be reused."""
        self._sockets.pop(proto, None)
        proto.close()

    async def _connect(self) -> ResponseHandler:
        loop = asyncio.get_running_loop()
        transport, proto = await asyncio.wait_for(
            loop.create_connection(lambda: ResponseHandler(loop), self.host, self.port),
            self.timeout,
        )
        if QUICKACK is not None:
            sock = transport.get_extra_info("socket")
            self._sockets[proto] = sock.fileno() if QUICKACK_FD is not None else sock
        return proto

    async def request(
        self, method: str, uri: str, fields: list[tuple[bytes, bytes]], body: bytes | None
    ) -> PooledResponse:
        """Send one request (``fields`` as :func:`~wire.forward_fields` gives them); a
        reused connection that turns out dead is retried once, but only for an idempotent
        method: a POST the upstream may have read is never sent twice (it becomes a 502
        instead)."""
        lines = [f"{method} {uri} HTTP/1.1\r\n".encode("latin-1")]
        lines.extend(k + b": " + v + b"\r\n" for k, v in fields)
        if not any(k.lower() == b"host" for k, _ in fields):
            # HTTP/1.0 clients may omit it
            lines.append(f"Host: {self.host}:{self.port}\r\n".encode("latin-1"))
        lines.append(b"\r\n")
        if body:
            lines.append(body)
        data = b"".join(lines)
        while self._idle:
            proto = self._idle.pop()
            if not proto.is_connected() or proto.should_close:
                self.discard(proto)
                continue
            try:
                return await self._exchange(proto, method, data)
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                self.discard(proto)
                if method not in IDEMPOTENT:
                    raise
                # the upstream closed the idle connection: try a fresh one
        return await self._exchange(await self._connect(), method, data)

    async def _exchange(self, proto: ResponseHandler, method: str, data: bytes) -> PooledResponse:
        proto.set_response_params(
            skip_payload=method == "HEAD",
            read_until_eof=True,  # a body without length or chunking ends at EOF
            auto_decompress=False,
            read_timeout=self.timeout,
            read_bufsize=2**16,
        )
        assert proto.transport is not None
        proto.transport.write(data)
        sock = self._sockets.get(proto)
        if sock is not None and not proto.transport.is_closing():  # so the fd is open
            if QUICKACK_FD is not None:
                QUICKACK_FD(sock)
            else:
                sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
        proto.start_timeout()
        try:
            message, payload = await proto.read()
            # RFC 9110 section 15.2: 1xx answers are interim (dropped here); the final
            # answer follows on the same connection. 101 is only valid after an Upgrade.
            while 100 <= message.code < 200:
                if message.code == 101:
                    raise aiohttp.ServerDisconnectedError("101 without an Upgrade request")
                message, payload = await proto.read()
        except BaseException:
            self.discard(proto)
            raise
        return PooledResponse(self, proto, message, payload)

    def close(self) -> None:
        """Close every idle connection."""
        for proto in self._idle:
            proto.close()
        self._idle.clear()
        self._sockets.clear()
