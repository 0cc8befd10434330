"""API replay: send a captured request again to a tunnel's upstream, as a new entry.

The new entry's ``remote_addr`` is ``"replayed"``, as a real agent records it.
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
    chunks,
    describe_failure,
    forward_headers,
    proto_of,
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
        capture = self.capture
        src = original.request
        entry = capture.new_entry(
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
        if tunnel.upstream is None:
            body = json.dumps({"ok": True, "id": entry.id}).encode()
            headers_out = [
                (b"Content-Type", b"application/json"),
                (b"Content-Length", str(len(body)).encode()),
            ]
            capture.record_whole(entry, 200, "OK", headers_out, body)
            capture.finish(tunnel, entry, t0)
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
