"""The capture proxy: forwarding one public request of a tunnel to its upstream.

Each request is recorded as it arrives (``response`` null until the upstream answers),
streamed to the upstream and back, and captured up to the capture limit. The wire form
is rebuilt from llhttp's parsed message (:mod:`public`: request line, raw headers in
wire order, body bytes as they travelled, chunk framing) - there is no hand-written
HTTP parser here.
The entry's lifecycle is :mod:`capture`'s; the header rules are :mod:`wire`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError
from yarl import URL

from ngrok_inspect.local_agent.capture import Capture
from ngrok_inspect.local_agent.limits import BodyTimeout, PublicLimits, timed_chunks
from ngrok_inspect.local_agent.public import ClientStalled, PublicRequest
from ngrok_inspect.local_agent.store import Entry, Message
from ngrok_inspect.local_agent.tunnel import RunningTunnel
from ngrok_inspect.local_agent.upstream import PooledResponse
from ngrok_inspect.local_agent.websocket import relay_websocket
from ngrok_inspect.local_agent.wire import (
    SKIP_AUTO_HEADERS,
    arrived_whole,
    chunks,
    decoded,
    describe_failure,
    error_page,
    forward_fields,
    origin_form,
    proto_of,
    relayed_fields,
    request_head,
    upstream_failure,
)

SMALL_BODY = 64 * 1024  # bodies up to this size are read whole instead of streamed


class _ClientGone(Exception):
    """The client went away (or, with ``timeout``, stalled) while its request body was
    being read."""

    def __init__(self, timeout: BodyTimeout | None = None) -> None:
        super().__init__()
        self.timeout = timeout


class Proxy:
    """Forwards the requests of every tunnel; entries are recorded through ``capture``."""

    def __init__(
        self,
        capture: Capture,
        session: aiohttp.ClientSession,
        *,
        upstream_timeout: float,
        limits: PublicLimits,
    ) -> None:
        self.capture = capture
        self.session = session
        self.capture_limit = capture.limit
        self.upstream_timeout = upstream_timeout
        self.body_timeout = limits.body_timeout
        self.timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=upstream_timeout, sock_read=upstream_timeout
        )

    def handler(self, tunnel: RunningTunnel) -> Callable[[PublicRequest], Awaitable[None]]:
        """The request handler of one tunnel's public side."""
        return functools.partial(self.handle, tunnel)

    # -- the public side -----------------------------------------------------------------

    async def handle(self, tunnel: RunningTunnel, request: PublicRequest) -> None:
        """Capture one request, forward it, stream and capture the answer."""
        t0 = time.monotonic_ns()
        raw_headers = request.raw_headers
        proto = proto_of(request.version)
        method = request.method
        uri = request.raw_path
        remote = request.remote  # the peer, looked up once per connection
        chunked = request.chunked
        entry = self.capture.new_entry(
            tunnel,
            remote,
            method,
            uri,
            proto,
            request_head(method, uri, proto, raw_headers),
            chunked,
        )
        try:
            await self._forward(tunnel, entry, request, t0, remote)
        except asyncio.CancelledError:
            # the handler is cancelled when the client's connection is lost
            if not entry.duration_ns:  # not finished yet
                if entry.error is None:
                    entry.error = (
                        _request_gone(entry, request, None)
                        if not entry.request.complete
                        else "the client closed the connection before the answer came"
                    )
                self.capture.finish(tunnel, entry, t0)
            raise
        finally:
            self.capture.release(entry)  # whatever happened, in-flight bytes are given back

    async def _forward(
        self, tunnel: RunningTunnel, entry: Entry, request: PublicRequest, t0: int, remote: str
    ) -> None:
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
        if request.upgrade == b"websocket":
            return await relay_websocket(
                self.capture, tunnel, entry, request, remote, t0, self.upstream_timeout
            )

        if request.body_exists and request.expect_continue:
            request.reply.interim(b"HTTP/1.1 100 Continue\r\n\r\n")
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
        # the framing is the agent's own: it describes exactly the bytes forwarded
        framed = len(body) if isinstance(body, bytes) else None
        pool = tunnel.pool
        fields = forward_fields(
            raw_headers,
            remote,
            tunnel.proto,
            content_length=framed,
            default_host=pool.host_field if pool is not None else None,
        )
        upstream: aiohttp.ClientResponse | PooledResponse
        try:
            # HEAD answers have a length but no body: aiohttp's client knows, llhttp not
            if pool is not None and (body is None or isinstance(body, bytes)) and method != "HEAD":
                upstream = await pool.request(method, uri, fields, body)
            else:
                upstream = await self.session.request(
                    method,
                    URL(tunnel.upstream + uri, encoded=True),
                    headers=decoded(fields),
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
            return await self._fail(
                tunnel, entry, request, t0, 502, "Bad Gateway", describe_failure(exc)
            )
        try:
            return await self._relay_response(tunnel, entry, request, upstream, t0)
        finally:
            upstream.release()

    async def _tee(self, request: PublicRequest, entry: Entry) -> AsyncIterator[bytes]:
        """The request body as it comes (captured on the way), under the body timeout."""
        limit = self.capture_limit
        msg = entry.request
        try:
            async for data, end in timed_chunks(request.content, self.body_timeout):
                msg.add_body(data, limit, end)
                yield data
        except BodyTimeout as exc:
            # said here: the upstream may be answering already, and its side fails next
            entry.error = _request_gone(entry, request, exc)
            raise _ClientGone(exc) from None
        except (aiohttp.ClientPayloadError, ConnectionError, OSError) as exc:
            entry.error = _request_gone(entry, request, None)
            raise _ClientGone() from exc
        msg.complete = True

    async def _read_whole(self, request: PublicRequest, entry: Entry) -> bytes:
        """A request body read to its end (and captured); ``_ClientGone`` if it stops."""
        msg = entry.request
        data = arrived_whole(request.content) if msg.chunk_sizes is None else None
        if data is not None:  # no wait, so no body timer
            msg.add_body(data, self.capture_limit, False)
            msg.complete = True
            return data
        parts = [data async for data in self._tee(request, entry)]
        return b"".join(parts)

    async def _client_failed(
        self,
        tunnel: RunningTunnel,
        entry: Entry,
        request: PublicRequest,
        t0: int,
        gone: _ClientGone,
    ) -> None:
        """The request body stopped: a client that left gets nothing (its entry keeps no
        response); one that stalled gets a 408, recorded, and its connection closed."""
        if entry.error is None:
            entry.error = _request_gone(entry, request, gone.timeout)
        if gone.timeout is None:
            self.capture.finish(tunnel, entry, t0)
            return  # no answer: the connection closes
        text = f"The request body stopped coming: {entry.error}."
        headers, body = self.capture.fail(tunnel, entry, t0, 408, "Request Timeout", text)
        request.reply.page(408, "Request Timeout", headers, body, close=True)

    async def _relay_response(
        self,
        tunnel: RunningTunnel,
        entry: Entry,
        request: PublicRequest,
        upstream: aiohttp.ClientResponse | PooledResponse,
        t0: int,
    ) -> None:
        raw = upstream.raw_headers
        proto = proto_of(upstream.version)
        reason = upstream.reason or ""
        msg = self.capture.record_response(entry, proto, upstream.status, reason, raw)
        length = upstream.content_length
        small = (
            length is not None
            and length <= SMALL_BODY
            and msg.chunk_sizes is None
            and upstream.status >= 200
            and upstream.status not in (204, 304)
            and request.method != "HEAD"
        )
        fields = relayed_fields(raw)
        limit = self.capture_limit
        if small:
            # small bodies: one write of head and body to the client
            parts = []
            try:
                whole = arrived_whole(upstream.content)
                if whole is not None:
                    parts.append(whole)
                else:
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
            self.capture.finish(tunnel, entry, t0)
            request.reply.whole(upstream.status, reason or _reason(upstream.status), fields, data)
            return
        reply = request.reply
        try:
            framed = length if msg.chunk_sizes is None else None
            reply.start(upstream.status, reason or _reason(upstream.status), fields, framed)
            pieces = chunks(upstream.content).__aiter__()
            while True:
                try:
                    data, end = await pieces.__anext__()
                except StopAsyncIteration:
                    break
                except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                    # the status already went out: the record keeps it and says why the
                    # body is short; the client's connection is cut so it sees the same
                    if entry.error is None:
                        entry.error = _answer_broke(msg, length, exc)
                    reply.cut()
                    return
                msg.add_body(data, limit, end)
                await reply.write(data)
            msg.complete = True
            reply.end()
        except asyncio.CancelledError:
            if entry.error is None:  # the client's connection was lost mid-answer
                entry.error = _client_left(msg, length)
            raise
        except ClientStalled as stalled:
            if entry.error is None:
                entry.error = (
                    f"{stalled} of the answer (after {_of(msg.passed, length)} body bytes)"
                )
            reply.cut()
        except (ConnectionError, OSError, aiohttp.ClientError, asyncio.TimeoutError):
            # the client went away mid-answer: keep what passed
            if entry.error is None:
                entry.error = _client_left(msg, length)
            reply.cut()
        finally:
            self.capture.finish(tunnel, entry, t0)

    async def _fail(
        self,
        tunnel: RunningTunnel,
        entry: Entry,
        request: PublicRequest,
        t0: int,
        status: int,
        reason: str,
        detail: str,
    ) -> None:
        if not entry.request.complete:
            await self._drain(request, entry.request)
        text = upstream_failure(tunnel.upstream, tunnel.name, status, detail)
        why = f"no answer within {self.upstream_timeout:g}s" if status == 504 else detail
        failure = why if why.startswith("the upstream") else f"upstream: {why}"
        headers, body = self.capture.fail(tunnel, entry, t0, status, reason, text, failure=failure)
        request.reply.page(status, reason, headers, body)

    async def _refuse(
        self, tunnel: RunningTunnel, entry: Entry, request: PublicRequest, t0: int
    ) -> None:
        """400 for a target that would pick the destination (CONNECT, authority-form)."""
        headers, body = error_page(
            400, "Bad Request", "The request target must be a path: this tunnel decides the host."
        )
        if request.body_exists:
            await self._drain(request, entry.request)
        else:
            entry.request.complete = True
        self.capture.record_whole(entry, 400, "Bad Request", headers, body)
        self.capture.finish(tunnel, entry, t0)
        request.reply.page(400, "Bad Request", headers, body, close=True)

    async def _drain(self, request: PublicRequest, msg: Message) -> None:
        """Read (and capture) what is left of a request body the upstream never took."""

        async def read() -> None:
            async for data, end in timed_chunks(request.content, self.body_timeout):
                msg.add_body(data, self.capture_limit, end)
            msg.complete = True

        with contextlib.suppress(
            asyncio.TimeoutError, BodyTimeout, aiohttp.ClientPayloadError, ConnectionError, OSError
        ):
            await asyncio.wait_for(read(), self.upstream_timeout)

    async def _bin(
        self, tunnel: RunningTunnel, entry: Entry, request: PublicRequest, t0: int
    ) -> None:
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
        self.capture.record_whole(entry, 200, "OK", headers, body)
        self.capture.finish(tunnel, entry, t0)
        request.reply.whole(200, "OK", headers[:1], body)


def _reason(status: int) -> str:
    """The standard reason phrase, for an upstream that sent none."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _of(passed: int, length: int | None) -> str:
    return f"{passed} of {length}" if length is not None else str(passed)


def _request_gone(entry: Entry, request: PublicRequest, timeout: BodyTimeout | None) -> str:
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
