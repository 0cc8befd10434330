"""Real stdlib servers on 127.0.0.1 for tests: a recorded ngrok agent and a broken one.

``FixtureAgentServer`` replays the answers a real ngrok 2.3.41 agent gave (the files in
``tests/fixtures/agent-2.3.41/``: status line and headers from ``NAME.http``, body from
``NAME.json``), chosen by method, path and query, with a little state so a replay or a
delete changes what the list returns, as on the real agent:

- ``GET /api`` (and ``/api/``) -> api-root; ``GET /api/tunnels`` -> tunnels;
  ``GET /api/tunnels/web`` -> tunnel-web; another name -> error-tunnel-not-found
- ``GET /api/requests/http`` -> requests (12 entries, newest first); ``?limit=3`` ->
  requests-limit-3; ``?limit=-1`` -> the recorded empty list; ``?limit=abc`` ->
  error-limit-not-int (400); other limits slice the recorded list (0 means 100, as on
  the agent); ``?tunnel_name=`` not a substring of ``web`` -> requests-tunnel-nope
- ``GET /api/requests/http/{webhook id}`` -> request-by-id; another held id -> that entry
  from the list; an unknown id -> error-request-not-found (its ``details.id`` set)
- ``POST /api/requests/http`` -> 204; afterwards the list is requests-after-replay (when
  the webhook was replayed); bad JSON -> error-replay-bad-json; an unknown id ->
  error-replay-unknown-id
- ``DELETE /api/requests/http`` -> 204, then the list is requests-after-delete (empty)
- ``GET /api/status`` and any other path -> error-unknown-path (it is a 2.x agent)
- ``POST /api/tunnels`` -> 201 with tunnel-web's answer renamed (not recorded: 2.3.41
  was not asked); ``DELETE /api/tunnels/{name}`` -> 204 or error-tunnel-not-found.

``BrokenServer`` misbehaves on purpose (see :data:`BROKEN_MODES`). Fixtures:
``fixture_agent`` (a started FixtureAgentServer, ``.url``), ``broken_server`` (a factory:
``broken_server("hang")`` -> URL), ``fixtures_path``.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "agent-2.3.41"
WEBHOOK_ID = "airt_3Mk9EWvh4uwMcxTZaEvgQPZWnfM"

BROKEN_MODES = (
    "refuse",  # nothing listens on the port (connection refused)
    "hang",  # accepts the connection and never answers
    "html500",  # 500 with an HTML body
    "untyped500",  # 500 whose body has no Content-Type
    "truncated_json",  # 200 JSON whose body stops half-way (Content-Length says more)
    "not_json",  # 200 text/plain
    "no_requests_key",  # 200 JSON objects without the keys the API promises
    "empty_200",  # 200 with an empty body
    "deep_json",  # 200 JSON nested deeper than any parser's recursion limit
    "no_id",  # 200 list whose captured request has no "id"
    "trickle",  # 200 JSON headers at once, then the body one byte at a time, forever
    "trickle_headers",  # the status line and headers one byte at a time, forever
)

#: Seconds between two bytes of the trickling modes: far below any read timeout, so only
#: a deadline for the whole call can stop a client that waits for the answer to finish.
TRICKLE_GAP = 0.02


def load_fixture(name: str) -> tuple[int, str, list[tuple[str, str]], bytes]:
    """``(status, reason, headers, body)`` of a recorded answer ``NAME``."""
    head = (FIXTURES / f"{name}.http").read_text(encoding="utf-8").replace("\r\n", "\n")
    lines = [ln for ln in head.split("\n") if ln]
    _, code, reason = lines[0].split(" ", 2)
    headers = []
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers.append((k.strip(), v.strip()))
    body = (FIXTURES / f"{name}.json").read_bytes()
    return int(code), reason, headers, body


def load_json(name: str) -> Any:
    """The parsed body of a recorded answer."""
    return json.loads((FIXTURES / f"{name}.json").read_bytes())


class _Answer:
    def __init__(
        self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        self.status, self.reason, self.headers, self.body = status, reason, headers, body


def _fixture(name: str, *, body: Any = None) -> _Answer:
    status, reason, headers, raw = load_fixture(name)
    if body is not None:
        raw = json.dumps(body, separators=(",", ":")).encode() + b"\n"
    keep = [(k, v) for k, v in headers if k.lower() not in ("content-length", "transfer-encoding")]
    return _Answer(status, reason, keep, raw)


class FixtureAgentServer:
    """A stdlib HTTP server on 127.0.0.1 answering like the recorded ngrok 2.3.41 agent."""

    def __init__(self) -> None:
        self.state = "traffic"  # -> "replayed" -> "deleted"
        self.calls: list[tuple[str, str, bytes]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer._lock:
                    outer.calls.append((self.command, self.path, body))
                    answer = outer.route(self.command, self.path, body)
                self.send_response(answer.status, answer.reason)
                for k, v in answer.headers:
                    self.send_header(k, v)
                if answer.status != 204:
                    self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if answer.status != 204:
                    self.wfile.write(answer.body)

            do_GET = do_POST = do_DELETE = do_PUT = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> FixtureAgentServer:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FixtureAgentServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- routing -------------------------------------------------------------------------

    def current_list(self) -> list[dict[str, Any]]:
        """The entries the agent holds in the current state, newest first."""
        entries: list[dict[str, Any]] = load_json(self._list_name())["requests"]
        return entries

    def _list_name(self) -> str:
        return {
            "traffic": "requests",
            "replayed": "requests-after-replay",
            "deleted": "requests-after-delete",
        }[self.state]

    def route(self, method: str, target: str, body: bytes) -> _Answer:
        """The answer to one call."""
        parts = urlsplit(target)
        path = parts.path
        query = parse_qs(parts.query, keep_blank_values=True)
        if method == "GET" and path in ("/api", "/api/"):
            return _fixture("api-root")
        if path == "/api/tunnels":
            if method == "GET":
                return _fixture("tunnels")
            if method == "POST":
                return self._start_tunnel(body)
        if path.startswith("/api/tunnels/"):
            name = unquote(path[len("/api/tunnels/") :])
            if name != "web":
                err = load_json("error-tunnel-not-found")
                err["details"]["name"] = name
                return _fixture("error-tunnel-not-found", body=err)
            if method == "GET":
                return _fixture("tunnel-web")
            if method == "DELETE":
                return _Answer(204, "No Content", [], b"")
        if path == "/api/requests/http":
            if method == "GET":
                return self._list(query)
            if method == "POST":
                return self._replay(body)
            if method == "DELETE":
                self.state = "deleted"
                return _Answer(204, "No Content", [], b"")
        if method == "GET" and path.startswith("/api/requests/http/"):
            rid = unquote(path[len("/api/requests/http/") :])
            if rid == WEBHOOK_ID and self.state != "deleted":
                return _fixture("request-by-id")
            for entry in self.current_list():
                if entry["id"] == rid:
                    return _fixture("request-by-id", body=entry)
            err = load_json("error-request-not-found")
            err["details"]["id"] = rid
            return _fixture("error-request-not-found", body=err)
        err = load_json("error-unknown-path")
        err["details"]["path"] = path
        return _fixture("error-unknown-path", body=err)

    def _list(self, query: dict[str, list[str]]) -> _Answer:
        limit_text = query.get("limit", [None])[-1]
        tunnel = query.get("tunnel_name", [None])[-1]
        limit = 100
        if limit_text is not None:
            try:
                limit = int(limit_text)
            except ValueError:
                return _fixture("error-limit-not-int")
            if limit < 0:
                return _fixture("requests-after-120-limit-neg")
            if limit == 0:
                limit = 100
        if tunnel is not None and tunnel not in "web":
            return _fixture("requests-tunnel-nope")
        name = self._list_name()
        if self.state == "traffic" and limit == 3 and tunnel is None:
            return _fixture("requests-limit-3")
        entries = load_json(name)["requests"]
        if len(entries) <= limit:
            return _fixture(name)
        return _fixture(name, body={"uri": "/api/requests/http", "requests": entries[:limit]})

    def _replay(self, body: bytes) -> _Answer:
        try:
            payload = json.loads(body)
        except ValueError:
            return _fixture("error-replay-bad-json")
        rid = payload.get("id") if isinstance(payload, dict) else None
        if not any(e["id"] == rid for e in self.current_list()):
            err = load_json("error-replay-unknown-id")
            err["details"]["id"] = rid
            return _fixture("error-replay-unknown-id", body=err)
        if rid == WEBHOOK_ID and self.state == "traffic":
            self.state = "replayed"
        return _Answer(204, "No Content", [], b"")

    def _start_tunnel(self, body: bytes) -> _Answer:
        try:
            spec = json.loads(body)
        except ValueError:
            return _fixture("error-replay-bad-json")
        tunnel = load_json("tunnel-web")
        name = str(spec.get("name") or "web")
        tunnel["name"] = name
        tunnel["uri"] = "/api/tunnels/" + name
        tunnel["config"]["addr"] = str(spec.get("addr", tunnel["config"]["addr"]))
        tunnel["config"]["inspect"] = bool(spec.get("inspect", True))
        answer = _fixture("tunnel-web", body=tunnel)
        return _Answer(201, "Created", answer.headers, answer.body)


class BrokenServer:
    """A server on 127.0.0.1 that misbehaves in one way (a mode of :data:`BROKEN_MODES`)."""

    def __init__(self, mode: str) -> None:
        if mode not in BROKEN_MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {BROKEN_MODES}")
        self.mode = mode
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        if mode == "refuse":
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
            self.url = f"http://127.0.0.1:{self.port}"
            return
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                outer.answer(self)

            do_GET = do_POST = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        """Misbehave on one request."""
        mode = self.mode
        if mode == "hang":
            self._release.wait(60)
            h.close_connection = True
            return
        if mode == "html500":
            body = b"<html><body><h1>500 Internal Server Error</h1>panic</body></html>"
            self._send(h, 500, "text/html; charset=utf-8", body)
        elif mode == "untyped500":
            self._send(h, 500, "", b"panic")
        elif mode == "truncated_json":
            full = json.dumps(load_json("requests")).encode()
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(full)))
            h.end_headers()
            h.wfile.write(full[: len(full) // 2])
            h.wfile.flush()
            h.close_connection = True
        elif mode == "not_json":
            self._send(h, 200, "text/plain", b"Hello, this is not the ngrok agent.\n")
        elif mode == "no_requests_key":
            path = urlsplit(h.path).path
            self._send(h, 200, "application/json", json.dumps({"uri": path}).encode())
        elif mode == "empty_200":
            self._send(h, 200, "application/json", b"")
        elif mode == "deep_json":
            self._send(h, 200, "application/json", b"[" * 200_000 + b"]" * 200_000)
        elif mode in ("trickle", "trickle_headers"):
            self._trickle(h, headers_too=mode == "trickle_headers")
        elif mode == "no_id":
            entry = {k: v for k, v in load_json("requests")["requests"][0].items() if k != "id"}
            self._send(h, 200, "application/json", json.dumps({"requests": [entry]}).encode())

    def _trickle(self, h: BaseHTTPRequestHandler, *, headers_too: bool) -> None:
        body = json.dumps(load_json("requests")).encode()  # 550 kB: never all sent
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        h.close_connection = True
        drip = head + body if headers_too else body
        try:
            if not headers_too:
                h.wfile.write(head)
                h.wfile.flush()
            for i in range(len(drip)):
                if self._release.wait(TRICKLE_GAP):
                    return
                h.wfile.write(drip[i : i + 1])
                h.wfile.flush()
        except OSError:  # the client gave up and closed: what the test wants
            return

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, ctype: str, body: bytes) -> None:
        h.send_response(status)
        if ctype:
            h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def stop(self) -> None:
        """Release hanging handlers and stop serving."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture
def fixture_agent() -> Iterator[FixtureAgentServer]:
    """A started :class:`FixtureAgentServer` (fresh state per test); use ``.url``."""
    with FixtureAgentServer() as server:
        yield server


@pytest.fixture
def broken_server() -> Iterator[Callable[[str], str]]:
    """Factory: ``broken_server("hang")`` starts a :class:`BrokenServer` and returns its URL."""
    started: list[BrokenServer] = []

    def make(mode: str) -> str:
        server = BrokenServer(mode)
        started.append(server)
        return server.url

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def fixtures_path() -> Path:
    """The folder of recorded ngrok 2.3.41 answers."""
    return FIXTURES
