"""WebSocket pass-through: the handshake is captured as a 101 entry, frames are relayed."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web
from yarl import URL

from ngrok_inspect.local_agent.capture import Capture
from ngrok_inspect.local_agent.store import Entry
from ngrok_inspect.local_agent.tunnel import RunningTunnel
from ngrok_inspect.local_agent.wire import (
    error_response,
    forward_headers,
    proto_of,
    upstream_failure,
)

_DROP = frozenset(
    {
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "upgrade",
        "connection",
        "host",
    }
)


async def relay_websocket(
    capture: Capture,
    session: aiohttp.ClientSession,
    tunnel: RunningTunnel,
    entry: Entry,
    request: web.BaseRequest,
    remote: str,
    t0: int,
) -> web.StreamResponse:
    """Open the upstream WebSocket, answer the client's handshake, relay both ways."""
    assert tunnel.upstream is not None
    protocols = [
        p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()
    ]
    headers = forward_headers(request.raw_headers, remote, tunnel.proto)
    for name in list(headers):
        if name.lower() in _DROP:
            del headers[name]
    entry.request.complete = True  # a handshake has no body: nothing left to drain
    url = URL(tunnel.upstream + request.raw_path, encoded=True)
    try:
        upstream_ws = await session.ws_connect(
            url.with_scheme("wss" if url.scheme == "https" else "ws"),
            headers=headers,
            protocols=protocols,
            autoping=False,
            max_msg_size=0,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
        )
    except aiohttp.WSServerHandshakeError as exc:
        return _fail(capture, tunnel, entry, t0, f"WebSocket handshake refused ({exc.status})")
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        return _fail(capture, tunnel, entry, t0, type(exc).__name__)
    resp = upstream_ws._response
    client_ws = web.WebSocketResponse(
        protocols=[upstream_ws.protocol] if upstream_ws.protocol else (),
        autoping=False,
        max_msg_size=0,
    )
    await client_ws.prepare(request)
    # the handshake as the upstream answered it
    capture.record_response(
        entry,
        proto_of(resp.version),
        resp.status,
        resp.reason or "Switching Protocols",
        resp.raw_headers,
    ).complete = True
    capture.finish(tunnel, entry, t0)

    async def pump(src: Any, dst: Any) -> None:
        async for msg in src:
            if msg.type == WSMsgType.TEXT:
                await dst.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await dst.send_bytes(msg.data)
            elif msg.type == WSMsgType.PING:
                await dst.ping(msg.data)
            elif msg.type == WSMsgType.PONG:
                await dst.pong(msg.data)
            else:
                break
        await dst.close()

    tasks = [
        asyncio.ensure_future(pump(client_ws, upstream_ws)),
        asyncio.ensure_future(pump(upstream_ws, client_ws)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await upstream_ws.close()
        await client_ws.close()
    return client_ws


def _fail(
    capture: Capture, tunnel: RunningTunnel, entry: Entry, t0: int, detail: str
) -> web.StreamResponse:
    text = upstream_failure(tunnel.upstream, tunnel.name, 502, detail)
    headers, body = capture.fail(
        tunnel, entry, t0, 502, "Bad Gateway", text, failure=f"upstream: {detail}"
    )
    return error_response(502, "Bad Gateway", headers, body)
