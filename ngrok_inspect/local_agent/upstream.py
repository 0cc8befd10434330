"""A lean keep-alive connection pool to a plain-HTTP upstream, for bodies held in memory.

It writes each request itself (head built from the forwarded fields, body bytes) on an
:class:`~connection.UpstreamConnection`, which reads the answer with llhttp, skipping
aiohttp's client machinery, which was most of a proxied request's cost. Streaming request
bodies, HEAD requests, TLS upstreams and WebSockets still go through ``ClientSession``.

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
from aiohttp import StreamReader

from ngrok_inspect.local_agent.connection import Head, UpstreamConnection

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

    def __init__(
        self, pool: UpstreamPool, conn: UpstreamConnection, head: Head, payload: StreamReader
    ) -> None:
        self._pool = pool
        self._conn: UpstreamConnection | None = conn
        self.status = head.code
        self.reason = head.reason
        self.version = head.version
        self.raw_headers = head.raw_headers
        self.content = payload
        self._should_close = head.should_close
        self.content_length = head.content_length

    async def read(self) -> bytes:
        """The whole body."""
        return bytes(await self.content.read())

    def release(self) -> None:
        """Give the connection back (or close it when it cannot be reused)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._should_close or not self.content.is_eof():
            self._pool.discard(conn)
        else:
            self._pool.put(conn)


class UpstreamPool:
    """Idle keep-alive connections to one ``host:port``."""

    def __init__(self, host: str, port: int, *, timeout: float) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._idle: list[UpstreamConnection] = []
        # each connection's socket (or, with QUICKACK_FD, its descriptor), looked up once
        self._sockets: dict[UpstreamConnection, Any] = {}

    def put(self, conn: UpstreamConnection) -> None:
        """Keep an idle connection for the next request."""
        if conn.reusable() and len(self._idle) < MAX_IDLE:
            self._idle.append(conn)
        else:
            self.discard(conn)

    def discard(self, conn: UpstreamConnection) -> None:
        """Close a connection that will not be reused."""
        self._sockets.pop(conn, None)
        conn.close()

    async def _connect(self) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        transport, conn = await asyncio.wait_for(
            loop.create_connection(
                lambda: UpstreamConnection(loop, self.timeout), self.host, self.port
            ),
            self.timeout,
        )
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if QUICKACK is not None:
                self._sockets[conn] = sock.fileno() if QUICKACK_FD is not None else sock
        return conn

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
            conn = self._idle.pop()
            if not conn.reusable():
                self.discard(conn)
                continue
            try:
                return await self._exchange(conn, data)
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                if method not in IDEMPOTENT:
                    raise
                # the upstream closed the idle connection: try a fresh one
        return await self._exchange(await self._connect(), data)

    async def _exchange(self, conn: UpstreamConnection, data: bytes) -> PooledResponse:
        answer = conn.send(data)
        sock = self._sockets.get(conn)
        if sock is not None and conn.is_connected():  # so the descriptor is open
            if QUICKACK_FD is not None:
                QUICKACK_FD(sock)
            else:
                sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
        try:
            head, payload = await answer
        except BaseException:
            self.discard(conn)
            raise
        return PooledResponse(self, conn, head, payload)

    def close(self) -> None:
        """Close every idle connection."""
        for conn in self._idle:
            conn.close()
        self._idle.clear()
        self._sockets.clear()
