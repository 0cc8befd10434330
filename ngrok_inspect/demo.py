"""A self-contained demonstration: a small sample service and the traffic a webhook
integration would send it. ``ngrok-inspect demo`` puts the local agent in front of
:class:`DemoUpstream`, sends :data:`SAMPLE_TRAFFIC` through it, and shows what was captured.

Everything binds to 127.0.0.1 on free ports; nothing leaves the machine.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

__all__ = ["SAMPLE_TRAFFIC", "DemoUpstream", "SampleRequest", "send_sample_traffic"]


@dataclass(frozen=True)
class SampleRequest:
    """One request of the demonstration traffic."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


_PUSH_EVENT = {
    "ref": "refs/heads/main",
    "repository": {"full_name": "acme/shop", "private": True},
    "pusher": {"name": "jane"},
    "commits": [{"id": "9f2c1e7", "message": "Fix checkout rounding"}],
}

_PUSH_BODY = json.dumps(_PUSH_EVENT).encode()
#: The secret the sample webhook is signed with, as GitHub signs its deliveries.
DEMO_WEBHOOK_SECRET = b"demo-secret"

SAMPLE_TRAFFIC: tuple[SampleRequest, ...] = (
    SampleRequest("GET", "/api/orders?status=open&page=2", {"Accept": "application/json"}),
    SampleRequest(
        "POST",
        "/webhooks/github",
        {
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-Hub-Signature-256": "sha256="
            + hmac.new(DEMO_WEBHOOK_SECRET, _PUSH_BODY, hashlib.sha256).hexdigest(),
        },
        _PUSH_BODY,
    ),
    SampleRequest(
        "POST",
        "/login",
        {"Content-Type": "application/x-www-form-urlencoded"},
        b"user=jane&password=wrong",
    ),
    SampleRequest("GET", "/api/report", {"Accept-Encoding": "gzip"}),
    SampleRequest("GET", "/favicon.ico"),
    SampleRequest("GET", "/api/crash"),
)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "demo-shop/1.0"

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK add 40 ms to every answer on a kept-alive connection
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the demo prints what the agent captured, not the upstream's log."""

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, value: Any, **headers: str) -> None:
        self._send(status, json.dumps(value).encode(), "application/json", **headers)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/api/orders":
            query = parse_qs(url.query)
            orders = [{"id": 1040 + i, "status": query.get("status", ["any"])[0]} for i in range(3)]
            self._json(200, {"page": int(query.get("page", ["1"])[0]), "orders": orders})
        elif url.path == "/api/report":
            report = json.dumps({"day": "today", "orders": 42, "revenue": 1234.5}).encode()
            if "gzip" in (self.headers.get("Accept-Encoding") or ""):
                self._send(200, gzip.compress(report), "application/json", Content_Encoding="gzip")
            else:
                self._send(200, report, "application/json")
        elif url.path == "/api/crash":
            self._send(500, b"Internal Server Error: division by zero\n", "text/plain")
        else:
            self._json(404, {"error": "not found", "path": url.path})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        body = self._body()
        if url.path == "/webhooks/github":
            event = json.loads(body or b"{}")
            self._json(202, {"received": True, "ref": event.get("ref")})
        elif url.path == "/login":
            self._json(401, {"error": "invalid credentials"}, Set_Cookie="session=; Max-Age=0")
        else:
            self._json(404, {"error": "not found", "path": url.path})


class DemoUpstream:
    """A small sample web service on 127.0.0.1 (a free port), in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="demo-upstream", daemon=True
        )

    @property
    def url(self) -> str:
        """The service's base URL, e.g. ``http://127.0.0.1:54321``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> DemoUpstream:
        """Start serving in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    def __enter__(self) -> DemoUpstream:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def send_sample_traffic(public_url: str, *, timeout: float = 10.0) -> int:
    """Send :data:`SAMPLE_TRAFFIC` to ``public_url`` one request at a time; return the count.

    The answers' statuses do not matter (the sample includes a 401, a 404 and a 500);
    a connection failure raises ``requests.RequestException``.
    """
    base = public_url.rstrip("/")
    with requests.Session() as session:
        session.trust_env = False
        for sample in SAMPLE_TRAFFIC:
            session.request(
                sample.method,
                base + sample.path,
                headers=sample.headers,
                data=sample.body,
                timeout=timeout,
            ).close()
    return len(SAMPLE_TRAFFIC)
