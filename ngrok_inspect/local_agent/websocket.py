"""WebSocket pass-through: the handshake is captured as a 101 entry, then bytes are relayed.

The handshake goes to the tunnel's upstream with its ``Upgrade`` fields (the rest as in
any forwarded request); the upstream's ``101`` is relayed to the client as it came, and
from then on the two connections are spliced: bytes pass both ways unchanged (frames,
extensions and subprotocols are the endpoints' business) until either side closes, with
each side's reading paused while the other cannot take more. Any other answer to the
handshake is a 502 (recorded with the upstream's status).
"""

from __future__ import annotations

import asyncio
import ssl

import httptools
from aiohttp.http import HttpVersion
from yarl import URL

from ngrok_inspect.local_agent.capture import Capture
from ngrok_inspect.local_agent.connection import HEAD_LIMIT
from ngrok_inspect.local_agent.public import PublicRequest
from ngrok_inspect.local_agent.store import Entry
from ngrok_inspect.local_agent.tunnel import RunningTunnel
from ngrok_inspect.local_agent.wire import forward_fields, proto_of, upstream_failure


class _Refused(Exception):
    """The upstream answered the handshake with something other than 101."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Side(asyncio.Protocol):
    """One end of the splice: what it reads goes to ``peer``; it stops reading while the
    peer's transport cannot take more; the end of either closes both."""

    def __init__(self, done: asyncio.Future[None]) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: asyncio.Transport | None = None
        self._held: list[bytes] = []  # read before the peer was attached
        self._done = done

    def attach(self, peer: asyncio.Transport) -> None:
        """Relay to ``peer`` from now on (what came before first)."""
        self.peer = peer
        held, self._held = self._held, []
        for data in held:
            peer.write(data)

    def data_received(self, data: bytes) -> None:
        if self.peer is not None:
            self.peer.write(data)
        else:
            self._held.append(data)

    def eof_received(self) -> bool:
        if self.peer is not None and self.peer.can_write_eof():
            self.peer.write_eof()  # a half close passes through
            return True
        return False

    def pause_writing(self) -> None:
        if self.peer is not None:
            self.peer.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None:
            self.peer.resume_reading()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.transport = None
        if self.peer is not None:
            self.peer.close()
        if not self._done.done():
            self._done.set_result(None)


class _Upstream(_Side):
    """The upstream's end: first the handshake's answer head (llhttp), then the splice."""

    def __init__(self, done: asyncio.Future[None]) -> None:
        super().__init__(done)
        self._parser = httptools.HttpResponseParser(self)
        self.head: asyncio.Future[tuple[int, str, HttpVersion, list[tuple[bytes, bytes]]]] = (
            done.get_loop().create_future()
        )
        self.rest = b""
        self._reason = b""
        self._fields: list[tuple[bytes, bytes]] = []
        self._size = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.head.done():
            super().data_received(data)
            return
        self._size += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self.rest = data[int(upgrade.args[0]) :]
            self._switched()
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"not an HTTP answer ({str(exc)[:60]})"))
        if not self.head.done() and self._size > HEAD_LIMIT:
            self._fail(ConnectionError("answer head too long"))

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields.append((name, value.rstrip(b" \t")))

    def on_headers_complete(self) -> None:
        code = self._parser.get_status_code()
        if code != 101 and not 100 <= code < 200:
            self._fail(_Refused(code))
        elif code != 101:
            self._reason, self._fields = b"", []  # interim: the real answer follows

    def _switched(self) -> None:
        """The 101 head is complete (llhttp stopped after it)."""
        if self.head.done():
            return
        version = (
            HttpVersion(1, 1) if self._parser.get_http_version() == "1.1" else HttpVersion(1, 0)
        )
        self.head.set_result((101, self._reason.decode("latin-1"), version, self._fields))

    def _fail(self, exc: BaseException) -> None:
        if not self.head.done():
            self.head.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._fail(ConnectionError("the upstream closed the connection during the handshake"))
        super().connection_lost(exc)


async def relay_websocket(
    capture: Capture,
    tunnel: RunningTunnel,
    entry: Entry,
    request: PublicRequest,
    remote: str,
    t0: int,
    timeout: float,
) -> None:
    """Send the handshake upstream; on 101 answer the client and splice the two."""
    assert tunnel.upstream is not None
    entry.request.complete = True  # a handshake has no body: nothing left to drain
    target = URL(tunnel.upstream)
    secure = target.scheme == "https"
    host = str(target.host)
    port = target.port or (443 if secure else 80)
    fields = forward_fields(request.raw_headers, remote, tunnel.proto, keep_upgrade=True)
    lines = [f"GET {request.raw_path} HTTP/1.1\r\n".encode("latin-1")]
    lines.extend(k + b": " + v + b"\r\n" for k, v in fields)
    if not any(k.lower() == b"host" for k, _ in fields):
        lines.append(f"Host: {host}:{port}\r\n".encode("latin-1"))
    lines.append(b"\r\n")
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    upstream = _Upstream(done)
    try:
        await asyncio.wait_for(
            loop.create_connection(
                lambda: upstream,
                host,
                port,
                ssl=ssl.create_default_context() if secure else None,
                server_hostname=host if secure else None,
            ),
            timeout,
        )
        assert upstream.transport is not None
        upstream.transport.write(b"".join(lines))
        status, reason, version, raw_headers = await asyncio.wait_for(upstream.head, timeout)
    except _Refused as refused:
        _close(upstream.transport)
        detail = f"WebSocket handshake refused ({refused.status})"
        return _fail(capture, tunnel, entry, request, t0, detail)
    except asyncio.TimeoutError:
        _close(upstream.transport)
        return _fail(capture, tunnel, entry, request, t0, "no answer to the WebSocket handshake")
    except (OSError, ssl.SSLError) as exc:
        _close(upstream.transport)
        return _fail(capture, tunnel, entry, request, t0, type(exc).__name__)
    transport = upstream.transport
    if transport is None:  # closed right after its answer
        return _fail(capture, tunnel, entry, request, t0, "the upstream closed the connection")
    head = [b"HTTP/1.1 %d %s\r\n" % (status, reason.encode("latin-1") or b"Switching Protocols")]
    head.extend(k + b": " + v + b"\r\n" for k, v in raw_headers)
    head.append(b"\r\n")
    capture.record_response(
        entry, proto_of(version), status, reason or "Switching Protocols", raw_headers
    ).complete = True
    capture.finish(tunnel, entry, t0)
    client = _Side(done)
    client.attach(transport)
    client_transport = request.reply.splice(client)
    if client_transport is None:  # the client left meanwhile
        transport.close()
        return
    client.transport = client_transport
    client_transport.write(b"".join(head) + upstream.rest)
    upstream.attach(client_transport)
    try:
        await done
    finally:
        transport.close()
        client_transport.close()


def _close(transport: asyncio.Transport | None) -> None:
    if transport is not None:
        transport.close()


def _fail(
    capture: Capture,
    tunnel: RunningTunnel,
    entry: Entry,
    request: PublicRequest,
    t0: int,
    detail: str,
) -> None:
    text = upstream_failure(tunnel.upstream, tunnel.name, 502, detail)
    headers, body = capture.fail(
        tunnel, entry, t0, 502, "Bad Gateway", text, failure=f"upstream: {detail}"
    )
    request.reply.page(502, "Bad Gateway", headers, body)
