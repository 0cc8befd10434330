"""WebSocket pass-through: the handshake is captured as a 101 entry, frames are relayed."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import WSMsgType, web
from yarl import URL

from ngrok_inspect.local_agent.proxy import forward_headers

if TYPE_CHECKING:
    from ngrok_inspect.local_agent.proxy import Proxy, RunningTunnel
    from ngrok_inspect.local_agent.store import Entry

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
    proxy: Proxy,
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
    entry.request.complete = True
    url = URL(tunnel.upstream + request.raw_path, encoded=True)
    try:
        upstream_ws = await proxy.session.ws_connect(
            url.with_scheme("wss" if url.scheme == "https" else "ws"),
            headers=headers,
            protocols=protocols,
            autoping=False,
            max_msg_size=0,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
        )
    except aiohttp.WSServerHandshakeError as exc:
        return await proxy._fail(
            tunnel,
            entry,
            request,
            t0,
            502,
            "Bad Gateway",
            f"WebSocket handshake refused ({exc.status})",
        )
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        return await proxy._fail(tunnel, entry, request, t0, 502, "Bad Gateway", type(exc).__name__)
    resp = upstream_ws._response
    client_ws = web.WebSocketResponse(
        protocols=[upstream_ws.protocol] if upstream_ws.protocol else (),
        autoping=False,
        max_msg_size=0,
    )
    await client_ws.prepare(request)
    # the handshake as the upstream answered it
    v = resp.version
    proxy._record_response(
        entry,
        f"HTTP/{v.major}.{v.minor}" if v else "HTTP/1.1",
        resp.status,
        resp.reason or "Switching Protocols",
        resp.raw_headers,
    ).complete = True
    proxy._finish(tunnel, entry, t0)

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
