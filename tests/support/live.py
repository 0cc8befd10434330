"""Real servers for end-to-end tests: an upstream app and a LocalAgent in front of it.

Fixtures:

* ``upstream`` — an :class:`Upstream` (aiohttp on 127.0.0.1, own thread; ``.url``) that
  serves the traffic of ``tests/fixtures/agent-2.3.41/README.md``: ``/search``,
  ``POST /webhook`` -> 201, ``POST /form``, ``GET /gzip`` (gzip JSON when asked),
  ``POST /upload``, ``GET /large`` (200 KB), ``/does-not-exist`` -> 404, ``/boom`` -> 500,
  ``/headers`` (two Set-Cookie), ``DELETE /items/42`` -> 204, ``/slow?ms=N`` (answers after
  N ms), ``/chunked`` (a chunked answer), ``/ws`` (a WebSocket echo), and an echo of
  anything else (method, path, query, headers, body as JSON).
* ``local_agent`` — a started :class:`~ngrok_inspect.local_agent.LocalAgent` in front of
  ``upstream`` (tunnel ``command_line``); ``local_agent.tunnels[0].public_url``,
  ``local_agent.api_url``.
* ``send_traffic(public_url)`` — sends the README's 11 requests (the last two on one
  keep-alive connection) and returns the ``requests`` responses in order.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from aiohttp import WSMsgType, web

LARGE_SIZE = 200_000
UPLOAD_SIZE = 200 * 1024
WEBHOOK_BODY = {"event": "push", "ref": "refs/heads/main", "count": 3, "nested": {"ok": True}}
SERVER_HEADER = "conformance-upstream/1.0"


async def _handle(request: web.BaseRequest) -> web.StreamResponse:
    path, method = request.path, request.method
    body = b"" if path == "/ws" else await request.read()
    hdrs = {"Server": SERVER_HEADER}
    if path == "/search" and method == "GET":
        q = {k: request.query.getall(k) for k in request.query}
        return web.json_response({"path": path, "query": q}, headers=hdrs)
    if path == "/webhook" and method == "POST":
        ans = {"received": len(body), "content_type": request.content_type}
        return web.json_response(ans, status=201, headers={**hdrs, "Location": "/webhook/1"})
    if path == "/form" and method == "POST":
        form = await request.post() if not body else None
        fields = dict(form) if form else {}
        if body:
            from urllib.parse import parse_qsl

            fields = dict(parse_qsl(body.decode()))
        return web.json_response({"form": fields}, headers=hdrs)
    if path == "/gzip":
        payload = json.dumps({"compressed": True, "items": list(range(50))}).encode()
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            return web.Response(
                body=gzip.compress(payload),
                headers={**hdrs, "Content-Encoding": "gzip", "Content-Type": "application/json"},
            )
        return web.Response(body=payload, content_type="application/json", headers=hdrs)
    if path == "/upload" and method == "POST":
        return web.json_response({"received": len(body)}, headers=hdrs)
    if path == "/large":
        return web.Response(body=b"L" * LARGE_SIZE, content_type="text/plain", headers=hdrs)
    if path == "/does-not-exist":
        return web.json_response({"error": "not found"}, status=404, headers=hdrs)
    if path == "/boom":
        return web.Response(
            status=500,
            text="<h1>Internal Server Error</h1>",
            content_type="text/html",
            headers=hdrs,
        )
    if path == "/headers":
        resp = web.json_response({"x_multi": request.headers.getall("X-Multi", [])}, headers=hdrs)
        resp.headers.add("Set-Cookie", "s1=a; Path=/")
        resp.headers.add("Set-Cookie", "s2=b; Path=/; HttpOnly")
        return resp
    if path == "/items/42" and method == "DELETE":
        return web.Response(status=204, headers=hdrs)
    if path == "/slow":
        await asyncio.sleep(int(request.query.get("ms", "500")) / 1000)
        return web.json_response({"slow": True}, headers=hdrs)
    if path == "/ws":
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str("echo: " + msg.data)
            elif msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws
    if path == "/chunked":
        resp = web.StreamResponse(headers={**hdrs, "Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for part in (b"alpha ", b"beta ", b"gamma"):
            await resp.write(part)
        await resp.write_eof()
        return resp
    echo = {
        "method": method,
        "path": path,
        "query": request.query_string,
        "headers": [[k, v] for k, v in request.headers.items()],
        "body": body.decode("utf-8", "replace"),
    }
    return web.json_response(echo, headers=hdrs)


class Upstream:
    """An aiohttp app on 127.0.0.1 (own loop thread) serving the README's traffic."""

    def __init__(self) -> None:
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="upstream", daemon=True)
        self._ready = threading.Event()
        self._runner: web.ServerRunner | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()
        assert self._runner is not None
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    async def _start(self) -> None:
        server = web.Server(_handle, access_log=None)
        self._runner = web.ServerRunner(server, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> Upstream:
        """Start serving; returns self."""
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    """A real upstream app on 127.0.0.1 (shared by the session; it keeps no state)."""
    up = Upstream().start()
    yield up
    up.stop()


@pytest.fixture
def local_agent(upstream: Upstream) -> Iterator[Any]:
    """A started LocalAgent (tunnel ``command_line``) in front of ``upstream``."""
    from ngrok_inspect.local_agent import LocalAgent

    with LocalAgent(upstream.url) as agent:
        yield agent


def send_traffic(public_url: str, timeout: float = 10.0) -> list[requests.Response]:
    """Send the fixture README's 11 requests (12 exchanges) to ``public_url``, in order."""
    base = public_url.rstrip("/")
    out: list[requests.Response] = []
    with requests.Session() as s:
        out.append(
            s.get(
                base + "/search?q=hello%20world&page=2&tag=a&tag=b",
                headers={"Accept": "application/json"},
                timeout=timeout,
            )
        )
        out.append(
            s.post(
                base + "/webhook?source=test",
                data=json.dumps(WEBHOOK_BODY, separators=(",", ":")),
                headers={"Content-Type": "application/json"},
                timeout=timeout,
            )
        )
        out.append(
            s.post(
                base + "/form",
                data={"name": "Jane Doe", "note": "a&b=c", "n": "1"},
                timeout=timeout,
            )
        )
        out.append(s.get(base + "/gzip", headers={"Accept-Encoding": "gzip"}, timeout=timeout))
        out.append(
            s.post(
                base + "/upload",
                data=b"x" * UPLOAD_SIZE,
                headers={"Content-Type": "text/plain"},
                timeout=timeout,
            )
        )
        out.append(s.get(base + "/large", timeout=timeout))
        out.append(s.get(base + "/does-not-exist", timeout=timeout))
        out.append(s.get(base + "/boom", timeout=timeout))
    # requests cannot repeat a header: /headers goes out with http.client
    out.append(_raw_headers_request(base, timeout))
    with requests.Session() as s:
        out.append(s.delete(base + "/items/42", timeout=timeout))
    with requests.Session() as s:  # one keep-alive connection for both
        out.append(s.get(base + "/?conn=1", timeout=timeout))
        out.append(s.get(base + "/?conn=2", timeout=timeout))
    return out


def _raw_headers_request(base: str, timeout: float) -> requests.Response:
    """GET /headers with X-Multi sent twice (requests cannot repeat a header)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        conn.putrequest("GET", "/headers")
        conn.putheader("X-Multi", "first")
        conn.putheader("X-Multi", "second")
        conn.putheader("Cookie", "c1=v1")
        conn.endheaders()
        raw = conn.getresponse()
        resp = requests.Response()
        resp.status_code = raw.status
        resp.reason = raw.reason
        resp._content = raw.read()
        resp.headers.update(raw.getheaders())
        resp.url = base + "/headers"
        return resp
    finally:
        conn.close()
