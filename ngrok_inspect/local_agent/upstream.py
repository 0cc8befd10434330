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
import socket

import aiohttp
from aiohttp import StreamReader

from ngrok_inspect.local_agent.connection import Head, UpstreamConnection

MAX_IDLE = 256
# RFC 9110 section 9.2.2: only these may be sent again after a connection failed
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


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
        self.host_field = f"{host}:{port}".encode("latin-1")  # Host for requests without one

    def put(self, conn: UpstreamConnection) -> None:
        """Keep an idle connection for the next request."""
        if conn.reusable() and len(self._idle) < MAX_IDLE:
            self._idle.append(conn)
        else:
            self.discard(conn)

    def discard(self, conn: UpstreamConnection) -> None:
        """Close a connection that will not be reused."""
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
        return conn

    async def request(
        self, method: str, uri: str, fields: list[tuple[bytes, bytes]], body: bytes | None
    ) -> PooledResponse:
        """Send one request (``fields`` as :func:`~wire.forward_fields` gives them, with
        ``default_host=pool.host_field``); a reused connection that turns out dead is
        retried once, but only for an idempotent method: a POST the upstream may have read
        is never sent twice (it becomes a 502 instead)."""
        lines = [f"{method} {uri} HTTP/1.1\r\n".encode("latin-1")]
        lines += [k + b": " + v + b"\r\n" for k, v in fields]
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
