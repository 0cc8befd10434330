"""The capture proxy: one aiohttp low-level server per tunnel, forwarding to the upstream.

Each request is recorded as it arrives (``response`` null until the upstream answers),
streamed to the upstream and back, and captured up to the capture limit. The wire form
is rebuilt from aiohttp's parsed message (request line, raw headers in wire order, body
bytes as they travelled, chunk framing) - there is no hand-written HTTP parser here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import EmptyStreamReader, StreamReader
from multidict import CIMultiDict
from yarl import URL

from ngrok_inspect.local_agent.ksuid import request_id
from ngrok_inspect.local_agent.limits import (
    BodyTimeout,
    GuardedConnection,
    PublicLimits,
    guarded,
    timed_chunks,
)
from ngrok_inspect.local_agent.metrics import TunnelMetrics
from ngrok_inspect.local_agent.store import Entry, Message, Store
from ngrok_inspect.local_agent.upstream import PooledResponse, UpstreamPool

if TYPE_CHECKING:
    from aiohttp.web_protocol import RequestHandler

# RFC 9110 section 7.6.1: connection-specific fields a proxy must not forward.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "proxy-connection",
        "keep-alive",
        "te",
        "transfer-encoding",
        "upgrade",
        "trailer",
    }
)
# Fields that framing or routing depend on: never dropped because ``Connection`` names
# them (RFC 9110 section 7.6.1), or a client could make the agent forward bytes whose
# boundary only the upstream sees (request smuggling onto a pooled connection).
PROTECTED = frozenset({"content-length", "transfer-encoding", "host"})
SMALL_BODY = 64 * 1024  # bodies up to this size are read whole instead of streamed
SKIP_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


@dataclass
class TunnelSpec:
    """What to start: a named HTTP tunnel from a public listener to an upstream.

    ``addr`` is the upstream (port, ``host:port`` or URL; None for a request bin that
    answers every request ``200``); ``inspect=False`` forwards without capturing.
    """

    name: str
    addr: str | None = None
    inspect: bool = True
    listen: str = "127.0.0.1:0"
    proto: str = "http"


@dataclass
class RunningTunnel:
    """A started tunnel: its ``public_url`` (send traffic here) and ``upstream`` URL."""

    name: str
    public_url: str
    upstream: str | None
    inspect: bool
    proto: str = "http"
    addr: str | None = None  # the upstream as the tunnel's config shows it
    metrics: TunnelMetrics = field(default_factory=TunnelMetrics, repr=False)
    pool: UpstreamPool | None = field(default=None, repr=False)  # plain-HTTP upstreams
    server: Any = field(default=None, repr=False)
    listener: Any = field(default=None, repr=False)

    def to_api(self) -> dict[str, Any]:
        """The agent's JSON for this tunnel."""
        from urllib.parse import quote

        return {
            "name": self.name,
            "uri": "/api/tunnels/" + quote(self.name, safe=""),
            "public_url": self.public_url,
            "proto": self.proto,
            "config": {"addr": self.addr or "", "inspect": self.inspect},
            "metrics": self.metrics.to_api(),
        }


class TunnelServer(web.Server):
    """aiohttp's low-level server, counting connections into the tunnel's metrics; its
    connections have the header timeout and the connection cap of ``limits``."""

    def __init__(
        self, handler: Any, metrics: TunnelMetrics, limits: PublicLimits, **kwargs: Any
    ) -> None:
        super().__init__(guarded(handler), **kwargs)
        self._metrics = metrics
        self._limits = limits
        self._handler_kwargs = kwargs
        self._opened: dict[RequestHandler, int] = {}

    def __call__(self) -> GuardedConnection:
        """A new connection's protocol (aiohttp's, with the public side's limits)."""
        return GuardedConnection(
            self, limits=self._limits, loop=asyncio.get_running_loop(), **self._handler_kwargs
        )

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        """Count a new client connection."""
        super().connection_made(handler, transport)
        self._opened[handler] = time.monotonic_ns()
        self._metrics.conn_opened()

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        """Record how long the connection lived."""
        super().connection_lost(handler, exc)
        t0 = self._opened.pop(handler, None)
        if t0 is not None:
            self._metrics.conn_closed(time.monotonic_ns() - t0)


def connection_tokens(raw_headers: Any) -> set[str]:
    """Lower-cased field names listed in ``Connection`` headers (also hop-by-hop)."""
    tokens: set[str] = set()
    for k, v in raw_headers:
        if k.lower() == b"connection":
            tokens.update(t.strip().lower() for t in v.decode("latin-1").split(","))
    return tokens


def forward_headers(
    raw_headers: Any, remote_addr: str, scheme: str, *, keep_upgrade: bool = False
) -> CIMultiDict[str]:
    """The request headers to send upstream: hop-by-hop removed, X-Forwarded-* added."""
    # Expect: 100-continue is answered by the agent itself (see Proxy.handle)
    drop = HOP_BY_HOP | {"expect"} | (connection_tokens(raw_headers) - PROTECTED)
    if keep_upgrade:
        drop = drop - {"upgrade", "connection"}
    out: CIMultiDict[str] = CIMultiDict()
    forwarded_for: list[str] = []
    host = ""
    for k, v in raw_headers:
        name = k.decode("latin-1")
        low = name.lower()
        if low in drop:
            continue
        value = v.decode("latin-1")
        if low == "x-forwarded-for":
            forwarded_for.append(value)
            continue
        if low in ("x-forwarded-proto", "x-forwarded-host"):
            continue
        if low == "host":
            host = value
        out.add(name, value)
    if remote_addr:
        forwarded_for.append(remote_addr)
    if forwarded_for:
        out["X-Forwarded-For"] = ", ".join(forwarded_for)
    out["X-Forwarded-Proto"] = scheme
    if host:
        out["X-Forwarded-Host"] = host
    return out


def request_head(method: str, uri: str, proto: str, raw_headers: Any) -> bytes:
    """Request line and header block as on the wire (CRLF, blank line included)."""
    lines = [f"{method} {uri} {proto}\r\n".encode("latin-1")]
    lines.extend(k + b": " + v + b"\r\n" for k, v in raw_headers)
    lines.append(b"\r\n")
    return b"".join(lines)


def response_head(proto: str, status: int, reason: str, raw_headers: Any) -> bytes:
    """Status line and header block as on the wire."""
    lines = [f"{proto} {status} {reason}\r\n".encode("latin-1")]
    lines.extend(k + b": " + v + b"\r\n" for k, v in raw_headers)
    lines.append(b"\r\n")
    return b"".join(lines)


def is_chunked(raw_headers: Any) -> bool:
    """Whether a Transfer-Encoding header ends in ``chunked``."""
    for k, v in raw_headers:
        if k.lower() == b"transfer-encoding" and v.lower().rstrip().endswith(b"chunked"):
            return True
    return False


def origin_form(method: str, target: str) -> str | None:
    """The request target as sent upstream, or None when it must be refused.

    Only the tunnel decides where bytes go: an absolute-form target keeps only its path
    and query, ``*`` is kept for OPTIONS, and anything else (authority-form, userinfo,
    a bare host) is refused instead of being glued onto the upstream URL.
    """
    if target.startswith("/"):
        return target
    if target == "*" and method == "OPTIONS":
        return target
    low = target[:8].lower()
    if low.startswith(("http://", "https://")):
        rest = target.split("://", 1)[1]
        cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=-1)
        if cut < 0:
            return "/"
        path = rest[cut:]
        return path if path.startswith("/") else "/" + path
    return None


def error_page(status: int, reason: str, detail: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The agent's own error answer (400/502/504): headers and an HTML body."""
    code = {502: "ERR_NGROK_8012", 504: "ERR_NGROK_3004"}.get(status, "ERR_NGROK_8012")
    body = (
        f"<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head><body>"
        f"<h1>{status} {reason}</h1><p>{detail}</p><p>{code}</p></body></html>\n"
    ).encode()
    headers = [
        (b"Content-Type", b"text/html"),
        (b"Content-Length", str(len(body)).encode()),
        (b"Ngrok-Error-Code", code.encode()),
    ]
    return headers, body


async def chunks(stream: StreamReader) -> AsyncIterator[tuple[bytes, bool]]:
    """``(data, ends_http_chunk)`` pieces of a body until its end.

    Unlike ``StreamReader.iter_chunks()`` this ends on aiohttp's shared empty payload
    (whose ``readchunk`` never signals the end once it was read to the end before).
    """
    if isinstance(stream, EmptyStreamReader):
        return
    while True:
        data, end = await stream.readchunk()
        if not data and not end:
            return
        yield data, end


class _ClientGone(Exception):
    """The client went away (or, with ``timeout``, stalled) while its request body was
    being read."""

    def __init__(self, timeout: BodyTimeout | None = None) -> None:
        super().__init__()
        self.timeout = timeout


class Proxy:
    """The shared state of all tunnels: the store, the upstream session, the callbacks."""

    def __init__(
        self,
        store: Store,
        session: aiohttp.ClientSession,
        *,
        capture_limit: int,
        upstream_timeout: float,
        limits: PublicLimits,
        on_request: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.store = store
        self.session = session
        self.capture_limit = capture_limit
        self.limits = limits
        self.upstream_timeout = upstream_timeout
        self.on_request = on_request
        self.timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=upstream_timeout, sock_read=upstream_timeout
        )

    def handler(self, tunnel: RunningTunnel) -> Callable[[web.BaseRequest], Any]:
        """The aiohttp request handler of one tunnel."""

        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            return await self.handle(tunnel, request)

        return handle

    # -- recording ---------------------------------------------------------------------

    def _new_entry(
        self,
        tunnel: RunningTunnel,
        remote: str,
        method: str,
        uri: str,
        proto: str,
        head: bytes,
        chunked: bool,
    ) -> Entry:
        now = time.time()
        msg = Message(head, chunked=chunked)
        msg.budget = self.limits.budget
        entry = Entry(request_id(now), tunnel.name, remote, now, method, uri, proto, msg)
        if tunnel.inspect:
            self.store.add(entry)
        return entry

    def _record_response(
        self, entry: Entry, proto: str, status: int, reason: str, raw_headers: Any
    ) -> Message:
        msg = Message(
            response_head(proto, status, reason, raw_headers), chunked=is_chunked(raw_headers)
        )
        if entry.response is not None:  # a 502 replacing an answer that broke off
            entry.response.release()
        msg.budget = self.limits.budget  # given back when the exchange finishes
        entry.response = msg
        entry.status_code = status
        entry.status_text = f"{status} {reason}".rstrip()
        return msg

    def _finish(self, tunnel: RunningTunnel, entry: Entry, t0: int) -> None:
        _release(entry)
        entry.duration_ns = time.monotonic_ns() - t0
        if tunnel.inspect:
            self.store.resize(entry)
        tunnel.metrics.request_done(entry.duration_ns)
        if self.on_request is not None:
            self.on_request(entry.summary())

    # -- the public side -----------------------------------------------------------------

    async def handle(self, tunnel: RunningTunnel, request: web.BaseRequest) -> web.StreamResponse:
        """Capture one request, forward it, stream and capture the answer."""
        t0 = time.monotonic_ns()
        raw_headers = request.raw_headers
        version = request.version
        proto = f"HTTP/{version.major}.{version.minor}"
        method = request.method
        uri = request.raw_path
        peer = request.transport.get_extra_info("peername") if request.transport else None
        remote = str(peer[0]) if peer else ""
        chunked = is_chunked(raw_headers)
        entry = self._new_entry(
            tunnel,
            remote,
            method,
            uri,
            proto,
            request_head(method, uri, proto, raw_headers),
            chunked,
        )
        try:
            return await self._forward(tunnel, entry, request, t0, remote)
        finally:
            _release(entry)  # whatever happened, the in-flight bytes are given back

    async def _forward(
        self,
        tunnel: RunningTunnel,
        entry: Entry,
        request: web.BaseRequest,
        t0: int,
        remote: str,
    ) -> web.StreamResponse:
        raw_headers = request.raw_headers
        method = entry.method
        uri = entry.uri
        chunked = entry.request.chunk_sizes is not None
        if tunnel.upstream is None:
            return await self._bin(tunnel, entry, request, t0)
        target = None if method == "CONNECT" else origin_form(method, uri)
        if target is None:
            return await self._refuse(tunnel, entry, request, t0)
        uri = target
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if upgrade:
            from ngrok_inspect.local_agent.websocket import relay_websocket

            return await relay_websocket(self, tunnel, entry, request, remote, t0)

        if request.body_exists and request.headers.get("Expect", "").lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body: AsyncIterator[bytes] | bytes | None = None
        length = request.content_length
        if not request.body_exists:
            entry.request.complete = True
        elif not chunked and length is not None and length <= SMALL_BODY:
            # small bodies: read whole, so the upstream gets head and body in one write
            try:
                body = await self._read_whole(request, entry)
            except _ClientGone as gone:
                return await self._client_failed(tunnel, entry, request, t0, gone)
        else:
            body = self._tee(request, entry)
        headers = forward_headers(raw_headers, remote, tunnel.proto)
        if isinstance(body, bytes):
            # the framing is the agent's own: it describes exactly the bytes forwarded
            headers.popall("Content-Length", None)
            headers["Content-Length"] = str(len(body))
        upstream: aiohttp.ClientResponse | PooledResponse
        try:
            if tunnel.pool is not None and (body is None or isinstance(body, bytes)):
                upstream = await tunnel.pool.request(method, uri, headers, body)
            else:
                upstream = await self.session.request(
                    method,
                    URL(tunnel.upstream + uri, encoded=True),
                    headers=headers,
                    data=body,
                    allow_redirects=False,
                    skip_auto_headers=SKIP_AUTO_HEADERS,
                    timeout=self.timeout,
                    compress=False,
                )
        except _ClientGone as gone:
            return await self._client_failed(tunnel, entry, request, t0, gone)
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
            return await self._fail(tunnel, entry, request, t0, 504, "Gateway Timeout", "no answer")
        except (aiohttp.ClientError, HttpProcessingError, OSError, ValueError) as exc:
            for cause in (exc.__cause__, exc.__context__):
                if isinstance(cause, _ClientGone):
                    return await self._client_failed(tunnel, entry, request, t0, cause)
            return await self._fail(tunnel, entry, request, t0, 502, "Bad Gateway", _describe(exc))
        try:
            return await self._relay_response(tunnel, entry, request, upstream, t0)
        finally:
            upstream.release()

    async def _tee(self, request: web.BaseRequest, entry: Entry) -> AsyncIterator[bytes]:
        limit = self.capture_limit
        msg = entry.request
        try:
            async for data, end in timed_chunks(request.content, self.limits.body_timeout):
                msg.add_body(data, limit, end)
                yield data
        except BodyTimeout as exc:
            # said here: the upstream may already be answering, and its side fails next
            entry.error = _request_gone(entry, request, exc)
            raise _ClientGone(exc) from None
        except (aiohttp.ClientPayloadError, ConnectionError, OSError) as exc:
            entry.error = _request_gone(entry, request, None)
            raise _ClientGone() from exc
        msg.complete = True

    async def _read_whole(self, request: web.BaseRequest, entry: Entry) -> bytes:
        """A request body read to its end (and captured); ``_ClientGone`` if it stops."""
        parts = []
        async for data in self._tee(request, entry):
            parts.append(data)
        return b"".join(parts)

    async def _client_failed(
        self,
        tunnel: RunningTunnel,
        entry: Entry,
        request: web.BaseRequest,
        t0: int,
        gone: _ClientGone,
    ) -> web.StreamResponse:
        """The request body stopped: a client that left gets nothing (its entry keeps no
        response); one that stalled gets a 408, recorded, and its connection closed."""
        if entry.error is None:
            entry.error = _request_gone(entry, request, gone.timeout)
        if gone.timeout is None:
            self._finish(tunnel, entry, t0)
            raise gone
        headers, body = error_page(
            408, "Request Timeout", f"The request body stopped coming: {entry.error}."
        )
        msg = self._record_response(entry, "HTTP/1.1", 408, "Request Timeout", headers)
        msg.add_body(body, self.capture_limit)
        msg.complete = True
        self._finish(tunnel, entry, t0)
        answer = web.Response(
            status=408,
            reason="Request Timeout",
            body=body,
            headers={k.decode(): v.decode() for k, v in headers if k != b"Content-Length"},
        )
        answer.force_close()
        return answer

    async def _relay_response(
        self,
        tunnel: RunningTunnel,
        entry: Entry,
        request: web.BaseRequest,
        upstream: aiohttp.ClientResponse | PooledResponse,
        t0: int,
    ) -> web.StreamResponse:
        raw = upstream.raw_headers
        v = upstream.version
        proto = f"HTTP/{v.major}.{v.minor}" if v else "HTTP/1.1"
        reason = upstream.reason or ""
        msg = self._record_response(entry, proto, upstream.status, reason, raw)
        out = web.StreamResponse(status=upstream.status, reason=reason or None)
        drop = HOP_BY_HOP | connection_tokens(raw)
        length = upstream.content_length
        small = (
            length is not None
            and length <= SMALL_BODY
            and msg.chunk_sizes is None
            and upstream.status >= 200
            and upstream.status not in (204, 304)
            and request.method != "HEAD"
        )
        if small:
            drop = drop | {"content-length"}  # web.Response sets it from the body
        for k, val in raw:
            name = k.decode("latin-1")
            low = name.lower()
            if low in drop:
                continue
            out.headers.add(name, val.decode("latin-1"))
        limit = self.capture_limit
        if small:
            # small bodies: one write of head and body to the client
            parts = []
            try:
                async for piece, _ in chunks(upstream.content):
                    parts.append(piece)
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                # the upstream broke off before the client got a byte: the client and the
                # record both get a 502 that says why
                got = sum(len(p) for p in parts)
                detail = f"the upstream broke off after {got} of {length} body bytes"
                return await self._fail(tunnel, entry, request, t0, 502, "Bad Gateway", detail)
            data = b"".join(parts)
            msg.add_body(data, limit)
            msg.complete = True
            self._finish(tunnel, entry, t0)
            answer = web.Response(status=upstream.status, reason=reason or None, body=data)
            answer.headers.extend(out.headers)
            return answer
        try:
            await out.prepare(request)
            pieces = chunks(upstream.content).__aiter__()
            while True:
                try:
                    data, end = await pieces.__anext__()
                except StopAsyncIteration:
                    break
                except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                    # the status already went out: the record keeps it, says why the body
                    # is short, and the client's connection is cut so it sees the same
                    if entry.error is None:
                        entry.error = _answer_broke(msg, length, exc)
                    _cut(request)
                    return out
                msg.add_body(data, limit, end)
                await out.write(data)
            msg.complete = True
            await out.write_eof()
        except (ConnectionError, OSError, aiohttp.ClientError, asyncio.TimeoutError):
            # the client went away mid-answer: keep what passed
            if entry.error is None:
                entry.error = _client_left(msg, length)
            _cut(request)
        finally:
            self._finish(tunnel, entry, t0)
        return out

    async def _fail(
        self,
        tunnel: RunningTunnel,
        entry: Entry,
        request: web.BaseRequest,
        t0: int,
        status: int,
        reason: str,
        detail: str,
    ) -> web.StreamResponse:
        text = f"The upstream {tunnel.upstream} of tunnel {tunnel.name!r} " + (
            "did not answer in time." if status == 504 else f"failed: {detail}."
        )
        headers, body = error_page(status, reason, text)
        if not entry.request.complete:
            await self._drain(request, entry.request)
        msg = self._record_response(entry, "HTTP/1.1", status, reason, headers)
        msg.add_body(body, self.capture_limit)
        msg.complete = True
        self._finish(tunnel, entry, t0)
        return web.Response(
            status=status,
            reason=reason,
            body=body,
            headers={k.decode(): v.decode() for k, v in headers if k != b"Content-Length"},
        )

    async def _refuse(
        self, tunnel: RunningTunnel, entry: Entry, request: web.BaseRequest, t0: int
    ) -> web.StreamResponse:
        """400 for a target that would pick the destination (CONNECT, authority-form)."""
        headers, body = error_page(
            400, "Bad Request", "The request target must be a path: this tunnel decides the host."
        )
        if request.body_exists:
            await self._drain(request, entry.request)
        else:
            entry.request.complete = True
        msg = self._record_response(entry, "HTTP/1.1", 400, "Bad Request", headers)
        msg.add_body(body, self.capture_limit)
        msg.complete = True
        self._finish(tunnel, entry, t0)
        answer = web.Response(
            status=400,
            reason="Bad Request",
            body=body,
            headers={k.decode(): v.decode() for k, v in headers if k != b"Content-Length"},
        )
        answer.force_close()
        return answer

    async def _drain(self, request: web.BaseRequest, msg: Message) -> None:
        """Read (and capture) what is left of a request body the upstream never took."""

        async def read() -> None:
            async for data, end in timed_chunks(request.content, self.limits.body_timeout):
                msg.add_body(data, self.capture_limit, end)
            msg.complete = True

        with contextlib.suppress(
            asyncio.TimeoutError, BodyTimeout, aiohttp.ClientPayloadError, ConnectionError, OSError
        ):
            await asyncio.wait_for(read(), self.upstream_timeout)

    async def _bin(
        self, tunnel: RunningTunnel, entry: Entry, request: web.BaseRequest, t0: int
    ) -> web.StreamResponse:
        limit = self.capture_limit
        if request.body_exists:
            try:
                await self._read_whole(request, entry)
            except _ClientGone as gone:
                return await self._client_failed(tunnel, entry, request, t0, gone)
        entry.request.complete = True
        body = json.dumps({"ok": True, "id": entry.id if tunnel.inspect else None}).encode()
        headers = [
            (b"Content-Type", b"application/json"),
            (b"Content-Length", str(len(body)).encode()),
        ]
        msg = self._record_response(entry, "HTTP/1.1", 200, "OK", headers)
        msg.add_body(body, limit)
        msg.complete = True
        self._finish(tunnel, entry, t0)
        return web.Response(status=200, body=body, content_type="application/json")

    # -- replay --------------------------------------------------------------------------

    async def replay(self, tunnel: RunningTunnel, original: Entry) -> Entry:
        """Send a captured request again to ``tunnel``'s upstream; record it as a new entry."""
        t0 = time.monotonic_ns()
        src = original.request
        entry = self._new_entry(
            tunnel,
            "replayed",
            original.method,
            original.uri,
            original.proto,
            src.head,
            src.chunk_sizes is not None,
        )
        entry.request.body = bytearray(src.body)
        entry.request.chunk_sizes = list(src.chunk_sizes) if src.chunk_sizes is not None else None
        entry.request.complete = src.complete
        entry.request.cut = src.cut
        if tunnel.upstream is None:
            headers_out = [(b"Content-Type", b"application/json")]
            body = json.dumps({"ok": True, "id": entry.id}).encode()
            headers_out.append((b"Content-Length", str(len(body)).encode()))
            msg = self._record_response(entry, "HTTP/1.1", 200, "OK", headers_out)
            msg.add_body(body, self.capture_limit)
            msg.complete = True
            self._finish(tunnel, entry, t0)
            return entry
        wire = src.header_fields
        headers = forward_headers(wire, "", tunnel.proto)
        if "Content-Length" in headers:
            del headers["Content-Length"]
        data = bytes(src.body) if src.body else None
        if data is None and any(k.lower() == b"content-length" for k, _ in wire):
            headers["Content-Length"] = "0"
        try:
            async with self.session.request(
                original.method,
                URL(tunnel.upstream + original.uri, encoded=True),
                headers=headers,
                data=data,
                allow_redirects=False,
                skip_auto_headers=SKIP_AUTO_HEADERS,
                timeout=self.timeout,
            ) as upstream:
                v = upstream.version
                proto = f"HTTP/{v.major}.{v.minor}" if v else "HTTP/1.1"
                msg = self._record_response(
                    entry, proto, upstream.status, upstream.reason or "", upstream.raw_headers
                )
                async for chunk, end in chunks(upstream.content):
                    msg.add_body(chunk, self.capture_limit, end)
                msg.complete = True
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
            self._record_error(tunnel, entry, 504, "Gateway Timeout", "no answer")
        except (aiohttp.ClientError, HttpProcessingError, OSError, ValueError) as exc:
            if entry.response is None:
                self._record_error(tunnel, entry, 502, "Bad Gateway", _describe(exc))
        self._finish(tunnel, entry, t0)
        return entry

    def _record_error(
        self, tunnel: RunningTunnel, entry: Entry, status: int, reason: str, detail: str
    ) -> None:
        text = f"The upstream {tunnel.upstream} of tunnel {tunnel.name!r} failed: {detail}."
        headers, body = error_page(status, reason, text)
        msg = self._record_response(entry, "HTTP/1.1", status, reason, headers)
        msg.add_body(body, self.capture_limit)
        msg.complete = True


def _cut(request: web.BaseRequest) -> None:
    """Close the client's connection mid-answer, so it sees the answer end early."""
    if request.transport is not None:
        request.transport.close()


def _of(passed: int, length: int | None) -> str:
    return f"{passed} of {length}" if length is not None else str(passed)


def _request_gone(entry: Entry, request: web.BaseRequest, timeout: BodyTimeout | None) -> str:
    """Why a request body ended early: the client stalled (``timeout``) or left."""
    got = _of(entry.request.passed, request.content_length)
    if timeout is not None:
        return f"{timeout} ({got} body bytes came)"
    return f"the client closed the connection after {got} request body bytes"


def _answer_broke(msg: Message, length: int | None, exc: BaseException) -> str:
    """Why a streamed answer is short: the upstream broke off or stopped sending."""
    got = _of(msg.passed, length)
    if isinstance(exc, asyncio.TimeoutError):
        return f"the upstream stopped sending after {got} body bytes"
    return f"the upstream broke off after {got} body bytes"


def _client_left(msg: Message, length: int | None) -> str:
    return f"the client closed the connection after {_of(msg.passed, length)} body bytes"


def _release(entry: Entry) -> None:
    entry.request.release()
    if entry.response is not None:
        entry.response.release()


def _describe(exc: BaseException) -> str:
    """A short, secret-free reason for an upstream failure."""
    if isinstance(exc, OSError) and not isinstance(exc, aiohttp.ClientError):
        return f"cannot connect ({exc.strerror or type(exc).__name__})"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect ({exc.os_error.strerror or type(exc.os_error).__name__})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the upstream closed the connection without answering"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"unreadable answer ({exc.message})"
    if isinstance(exc, HttpProcessingError):
        return "unreadable answer (not HTTP)"
    return type(exc).__name__
