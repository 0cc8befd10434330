"""Replay: a captured request sent again, or any request sent, to a tunnel's upstream.

Either way the exchange is captured as a new entry whose ``remote_addr`` is
``"replayed"``, as a real agent records its replays.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError
from yarl import URL

from ngrok_inspect.local_agent.capture import Capture
from ngrok_inspect.local_agent.store import Entry
from ngrok_inspect.local_agent.tunnel import RunningTunnel
from ngrok_inspect.local_agent.wire import (
    SKIP_AUTO_HEADERS,
    RequestMessage,
    chunks,
    describe_failure,
    forward_headers,
    is_chunked,
    origin_form,
    proto_of,
    request_head,
    upstream_failure,
)

REPLAYED = "replayed"  # the remote_addr of a replayed entry


class Replayer:
    """Sends captured requests again through the shared upstream session."""

    def __init__(
        self, capture: Capture, session: aiohttp.ClientSession, *, upstream_timeout: float
    ) -> None:
        self.capture = capture
        self.session = session
        self.timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=upstream_timeout, sock_read=upstream_timeout
        )

    async def replay(self, tunnel: RunningTunnel, original: Entry) -> Entry:
        """Send a captured request again to ``tunnel``'s upstream; record it as a new entry."""
        t0 = time.monotonic_ns()
        src = original.request
        entry = self.capture.new_entry(
            tunnel,
            REPLAYED,
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
        return await self._forward(tunnel, entry, src.header_fields, bytes(src.body), t0)

    async def send(self, tunnel: RunningTunnel, message: RequestMessage) -> Entry:
        """Send an arbitrary request to ``tunnel``'s upstream, captured as ``"replayed"``.

        The capture shows ``message`` as given (its head, its body up to the capture
        limit); the upstream gets it as the proxy would forward it (hop-by-hop fields
        dropped, ``X-Forwarded-*`` added, the body framed by a Content-Length).
        """
        t0 = time.monotonic_ns()
        head = request_head(message.method, message.target, message.proto, message.fields)
        entry = self.capture.new_entry(
            tunnel,
            REPLAYED,
            message.method,
            message.target,
            message.proto,
            head,
            is_chunked(message.fields),
        )
        if message.body:
            entry.request.add_body(message.body, self.capture.limit)
        entry.request.complete = True
        return await self._forward(tunnel, entry, message.fields, message.body, t0)

    async def _forward(
        self,
        tunnel: RunningTunnel,
        entry: Entry,
        fields: list[tuple[bytes, bytes]],
        body: bytes,
        t0: int,
    ) -> Entry:
        """Send the entry's request upstream and record the answer (or the agent's 502/504)."""
        capture = self.capture
        if tunnel.upstream is None:
            answer = json.dumps({"ok": True, "id": entry.id}).encode()
            headers_out = [
                (b"Content-Type", b"application/json"),
                (b"Content-Length", str(len(answer)).encode()),
            ]
            capture.record_whole(entry, 200, "OK", headers_out, answer)
            capture.finish(tunnel, entry, t0)
            return entry
        # an absolute-form target keeps only its path: only the tunnel picks the host
        target = origin_form(entry.method, entry.uri) or "/"
        headers = forward_headers(fields, "", tunnel.proto)
        if "Content-Length" in headers:
            del headers["Content-Length"]
        data = body or None
        if data is None and any(k.lower() == b"content-length" for k, _ in fields):
            headers["Content-Length"] = "0"
        try:
            async with self.session.request(
                entry.method,
                URL(tunnel.upstream + target, encoded=True),
                headers=headers,
                data=data,
                allow_redirects=False,
                skip_auto_headers=SKIP_AUTO_HEADERS,
                timeout=self.timeout,
            ) as upstream:
                msg = capture.record_response(
                    entry,
                    proto_of(upstream.version),
                    upstream.status,
                    upstream.reason or "",
                    upstream.raw_headers,
                )
                async for chunk, end in chunks(upstream.content):
                    msg.add_body(chunk, capture.limit, end)
                msg.complete = True
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
            text = upstream_failure(tunnel.upstream, tunnel.name, 504, "no answer")
            capture.fail(tunnel, entry, t0, 504, "Gateway Timeout", text)
            return entry
        except (aiohttp.ClientError, HttpProcessingError, OSError, ValueError) as exc:
            if entry.response is None:
                detail = describe_failure(exc)
                text = upstream_failure(tunnel.upstream, tunnel.name, 502, detail)
                capture.fail(
                    tunnel, entry, t0, 502, "Bad Gateway", text, failure=f"upstream: {detail}"
                )
                return entry
        capture.finish(tunnel, entry, t0)
        return entry
