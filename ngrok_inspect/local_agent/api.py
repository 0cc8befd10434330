"""The agent API (``/api/...``) served by the local agent, as a real ngrok agent answers.

Shapes, status codes and ``error_code`` values follow the recorded answers of a real
agent (``tests/fixtures/agent-2.3.41``) and ngrok's documentation for 3.x additions.
This is the only module that knows them: the core raises domain errors
(:func:`api_error` maps them).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from aiohttp import web

from ngrok_inspect import __version__
from ngrok_inspect.local_agent.core import (
    AgentCore,
    CoreError,
    InvalidRequest,
    InvalidTunnel,
    NotReplayable,
    UnknownEntry,
    UnknownTunnel,
)
from ngrok_inspect.local_agent.limits import BodyTimeout, timed_chunks

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_INT = re.compile(r"^[+-]?[0-9]+$")
DEFAULT_LIMIT = 100
LISTING_SLICE = 0.002  # seconds a long listing runs before it lets the proxy run
SEND_PATH = "/api/requests/http/replay"  # our extension: send any request, captured
# our extension of the listing (docs/local-agent.md): every listing says where the agent's
# completions stand; ?ngrok_inspect_after=CURSOR lists what completed since, oldest first
CURSOR_HEADER = "Ngrok-Inspect-Cursor"
GONE_HEADER = "Ngrok-Inspect-Gone"
AFTER_PARAM = "ngrok_inspect_after"
_CURSOR = re.compile(r"^([0-9a-f]{16})\.([0-9]{1,18})\.([0-9]{1,18})$")
BODY_MAX = 1024**2  # an API request body (aiohttp's own default bound for read())
TUNNEL_KEYS = frozenset(
    {
        "name",
        "addr",
        "proto",
        "inspect",
        "schemes",
        "bind_tls",
        "host_header",
        "subdomain",
        "hostname",
        "domain",
        "url",
        "metadata",
        "auth",
        "basic_auth",
        "oauth",
        "request_header",
        "response_header",
        "compression",
        "websocket_tcp_converter",
    }
)


class ApiError(Exception):
    """An error answer in the agent's shape."""

    def __init__(
        self,
        status_code: int,
        msg: str,
        details: dict[str, Any] | None = None,
        error_code: int | None = None,
    ) -> None:
        super().__init__(msg)
        self.status_code = status_code
        self.msg = msg
        self.details = details or {}
        self.error_code = error_code

    def to_api(self) -> dict[str, Any]:
        """The JSON body: ``error_code`` (when known), ``status_code``, ``msg``, ``details``."""
        data: dict[str, Any] = {}
        if self.error_code is not None:
            data["error_code"] = self.error_code
        data.update(status_code=self.status_code, msg=self.msg, details=self.details)
        return data


def _bad_parameter(err: str) -> ApiError:
    """The agent's 400 for a request parameter it cannot use (``err`` says why)."""
    return ApiError(400, "failed to deserialize request parameter", {"err": err})


def api_error(exc: CoreError) -> ApiError:
    """The agent's answer to a domain error of the core."""
    if isinstance(exc, UnknownTunnel):
        return ApiError(404, "tunnel not found", {"name": exc.name}, 100)
    if isinstance(exc, UnknownEntry):
        return ApiError(404, "request entry not found", {"id": exc.entry_id}, 106)
    if isinstance(exc, InvalidTunnel):
        return ApiError(400, "invalid tunnel configuration", {"err": exc.reason}, 102)
    if isinstance(exc, InvalidRequest):
        return ApiError(400, "invalid request to send", {"err": exc.reason})
    if isinstance(exc, NotReplayable):
        return ApiError(
            400,
            "cannot replay a request whose body was not captured whole",
            {"id": exc.entry_id, "err": exc.reason},
        )
    return ApiError(400, str(exc))


def json_response(data: Any, status: int = 200) -> web.Response:
    """A compact JSON answer, as the Go agent writes it."""
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return web.Response(status=status, body=body, content_type="application/json")


def empty_response() -> web.Response:
    """204 with an empty body."""
    return web.Response(status=204)


def host_of(value: str) -> str:
    """The host part of a ``Host`` header or an ``Origin`` URL, lower-cased."""
    if "://" in value:
        value = urlsplit(value).netloc
    value = value.strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def same_origin(origin: str, host: str, sock: Any) -> bool:
    """Whether a browser's ``Origin`` is exactly this API's origin (scheme, host, port).

    Any other loopback origin (another dev server on localhost, ``evil.localhost``) is
    a different site that must not clear or replay captures; ``null`` never matches.
    """
    try:
        theirs = urlsplit(origin.strip())
        their_port = theirs.port or (443 if theirs.scheme == "https" else 80)
        own = urlsplit("http://" + host) if host else None
        own_host = own.hostname if own else (str(sock[0]) if sock else "")
        own_port = (own.port or 80) if own else (int(sock[1]) if sock else 0)
    except ValueError:
        return False
    return (
        theirs.scheme == "http"
        and bool(theirs.hostname)
        and theirs.hostname == (own_host or "").lower()
        and their_port == own_port
    )


class AgentApi:
    """Routes ``/api`` requests to the agent core."""

    def __init__(self, core: AgentCore) -> None:
        self.core = core
        self.own_hosts: set[str] = set()

    def _allowed(self, host: str, local_ip: str = "") -> bool:
        host = host.strip("[]") if host.startswith("[") else host
        return (
            host in LOCAL_HOSTS
            or host.endswith(".localhost")
            or host in self.own_hosts
            or (bool(local_ip) and host == local_ip.lower())
        )

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one API call (errors in the agent's JSON shape)."""
        try:
            sock = request.transport.get_extra_info("sockname") if request.transport else None
            local_ip = str(sock[0]) if sock else ""
            host = request.headers.get("Host")
            if host is not None and not self._allowed(host_of(host), local_ip):
                raise ApiError(
                    403,
                    "forbidden: the Host header does not name this agent",
                    {"host": host_of(host)},
                )
            origin = request.headers.get("Origin")
            if origin is not None and not same_origin(origin, host or "", sock):
                raise ApiError(403, "forbidden: cross-origin request", {"origin": host_of(origin)})
            site = request.headers.get("Sec-Fetch-Site", "").strip().lower()
            if origin is None and site in ("cross-site", "same-site"):
                raise ApiError(403, "forbidden: cross-origin request", {"sec-fetch-site": site})
            return await self._route(request)
        except CoreError as exc:
            err = api_error(exc)
            return json_response(err.to_api(), err.status_code)
        except ApiError as err:
            answer = json_response(err.to_api(), err.status_code)
            if err.status_code == 408:  # the body never came whole: nothing more to read
                answer.force_close()
            return answer

    async def _route(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        method = request.method
        handlers: dict[str, Callable[[web.BaseRequest, str], Awaitable[web.StreamResponse]]]
        arg = ""
        if path in ("/api", "/api/"):
            handlers = {"GET": self.root}
        elif path == "/api/tunnels":
            handlers = {"GET": self.list_tunnels, "POST": self.start_tunnel}
        elif path.startswith("/api/tunnels/") and len(path) > len("/api/tunnels/"):
            arg = unquote(request.raw_path.split("?", 1)[0][len("/api/tunnels/") :])
            handlers = {"GET": self.get_tunnel, "DELETE": self.stop_tunnel}
        elif path == "/api/requests/http":
            handlers = {"GET": self.list_requests, "POST": self.replay, "DELETE": self.clear}
        elif path.startswith("/api/requests/http/") and len(path) > len("/api/requests/http/"):
            arg = path[len("/api/requests/http/") :]
            handlers = {"GET": self.get_request}
            if arg == SEND_PATH.rsplit("/", 1)[1]:
                handlers["POST"] = self.send
        elif path == "/api/status":
            handlers = {"GET": self.status}
        else:
            raise ApiError(404, "Not Found", {"path": path})
        fn = handlers.get(method)
        if fn is None:
            raise ApiError(405, "Method Not Allowed", {"method": method, "path": path})
        return await fn(request, arg)

    # -- endpoints -----------------------------------------------------------------------

    async def root(self, request: web.BaseRequest, arg: str) -> web.StreamResponse:
        """``GET /api``."""
        return json_response(
            {"tunnels_uri": "/api/tunnels", "http_requests_uri": "/api/requests/http"}
        )

    async def status(self, request: web.BaseRequest, arg: str) -> web.StreamResponse:
        """``GET /api/status`` in the 3.x shape."""
        return json_response(
            {
                "status": "online",
                "agent_version": f"{__version__}-ngrok-inspect",
                "session": {"legs": [{"region": "local", "latency": "0ms"}]},
                "uri": "/api/status",
            }
        )

    async def list_tunnels(self, request: web.BaseRequest, arg: str) -> web.StreamResponse:
        """``GET /api/tunnels``."""
        return json_response(
            {"tunnels": [t.to_api() for t in self.core.tunnels], "uri": "/api/tunnels"}
        )

    async def get_tunnel(self, request: web.BaseRequest, arg: str) -> web.StreamResponse:
        """``GET /api/tunnels/{name}``."""
        return json_response(self.core.tunnel(arg).to_api())

    async def start_tunnel(self, request: web.BaseRequest, arg: str) -> web.StreamResponse:
        """``POST /api/tunnels``: start a new capture listener (201)."""
        body = await _json_body(request, self.core.api_limits.body_timeout)
        if not isinstance(body, dict):
            raise ApiError(
                400, "invalid tunnel configuration", {"err": "expected a JSON object"}, 102
            )
        unknown = sorted(set(body) - TUNNEL_KEYS)
        if unknown:
            raise ApiError(
                400,
                "invalid tunnel configuration",
                {"err": f"unknown field(s): {', '.join(unknown)}"},
                102,
            )
        tunnel = await self.core.start_tunnel_from_definition(body)
        return json_response(tunnel.to_api(), 201)

    async def stop_tunnel(self, request: web.BaseRequest, arg: str) -> web.StreamResponse:
        """``DELETE /api/tunnels/{name}`` (204)."""
        await self.core.stop_tunnel(arg)
        return empty_response()

    async def list_requests(self, request: web.BaseRequest, arg: str) -> web.StreamResponse:
        """``GET /api/requests/http?limit=&tunnel_name=``: newest first; with our
        ``ngrok_inspect_after=CURSOR``, what completed since the cursor, oldest first."""
        query = parse_qs(request.query_string, keep_blank_values=True)
        limit = DEFAULT_LIMIT
        if "limit" in query:
            text = query["limit"][0]
            if not _INT.match(text):
                raise _bad_parameter(
                    f'param: error parsing key "limit" as int: strconv.ParseInt: '
                    f'parsing "{text}": invalid syntax'
                )
            limit = int(text)
            if limit == 0:
                limit = DEFAULT_LIMIT
        tunnel = query.get("tunnel_name", [""])[0]
        store = self.core.store
        after = query.get(AFTER_PARAM)
        if after is None:
            pieces = store.listing(limit, tunnel or None)
            headers = {CURSOR_HEADER: self._cursor(store.completed)}
        else:
            seq = self._cursor_seq(after[0])
            pieces, last, gone = store.completed_after(seq, limit, tunnel or None)
            headers = {CURSOR_HEADER: self._cursor(last), GONE_HEADER: str(gone)}
        first = next(pieces)
        more = next(pieces, None)
        if more is None:  # a short listing: one answer with a Content-Length
            return web.Response(body=first, content_type="application/json", headers=headers)
        # A long listing is streamed (chunked) and never held whole in memory. It runs in
        # slices of LISTING_SLICE seconds with the event loop free in between, so proxied
        # requests keep flowing; a slice per turn (not a piece per turn) so that the
        # listing is not starved either when the proxy is saturated.
        answer = web.StreamResponse(headers=headers)
        answer.content_type = "application/json"
        loop = asyncio.get_running_loop()
        try:
            await answer.prepare(request)
            until = loop.time() + LISTING_SLICE
            for piece in itertools.chain((first, more), pieces):
                await answer.write(piece)
                if loop.time() >= until:
                    await asyncio.sleep(0)
                    until = loop.time() + LISTING_SLICE
            await answer.write_eof()
        except ConnectionError:
            pass  # the caller went away mid-listing: nothing more to send
        return answer

    def _cursor(self, seq: int) -> str:
        store = self.core.store
        return f"{store.instance}.{store.clears}.{seq}"

    def _cursor_seq(self, text: str) -> int:
        """The completion number of a cursor this agent gave (400 otherwise: a cursor of
        another run of the agent is refused with a fresh one in ``details.cursor``)."""
        store = self.core.store
        m = _CURSOR.match(text)
        if m is None:
            raise _bad_parameter(
                f'param: error parsing key "{AFTER_PARAM}": not a cursor of this agent'
            )
        instance, clears, seq = m.group(1), int(m.group(2)), int(m.group(3))
        if instance != store.instance:
            raise ApiError(
                400,
                "unknown cursor",
                {
                    "err": "the cursor is of another run of the agent (it restarted)",
                    "cursor": self._cursor(store.before_held),
                },
            )
        if seq > store.completed or clears > store.clears:
            raise _bad_parameter(
                f'param: error parsing key "{AFTER_PARAM}": the cursor is ahead of this agent'
            )
        return seq

    async def get_request(self, request: web.BaseRequest, arg: str) -> web.StreamResponse:
        """``GET /api/requests/http/{id}``."""
        entry_id = arg
        entry = self.core.store.get(entry_id)
        if entry is None:
            raise ApiError(404, "request entry not found", {"id": entry_id}, 106)
        return web.Response(body=entry.to_json(), content_type="application/json")

    async def replay(self, request: web.BaseRequest, arg: str) -> web.StreamResponse:
        """``POST /api/requests/http {"id": ..., "tunnel_name": ...|null}`` (204)."""
        body = await _json_body(request, self.core.api_limits.body_timeout)
        if not isinstance(body, dict):
            raise _bad_parameter("json: cannot unmarshal into the replay request object")
        entry_id = body.get("id")
        if not isinstance(entry_id, str):
            entry_id = "" if entry_id is None else str(entry_id)
        tunnel_name = body.get("tunnel_name")
        if tunnel_name is not None and not isinstance(tunnel_name, str):
            raise _bad_parameter("json: tunnel_name must be a string or null")
        await self.core.replay(entry_id, tunnel_name or None)
        return empty_response()

    async def send(self, request: web.BaseRequest, arg: str) -> web.StreamResponse:
        """Our extension, ``POST /api/requests/http/replay {"tunnel_name", "raw"}``: send
        ``raw`` (base64 of a whole HTTP/1.x request) through the tunnel, capture it as
        ``remote_addr: "replayed"``; 201 with the new entry (its answer included)."""
        body = await _json_body(request, self.core.api_limits.body_timeout)
        if not isinstance(body, dict):
            raise _bad_parameter("json: cannot unmarshal into the send request object")
        tunnel_name = body.get("tunnel_name")
        raw = body.get("raw")
        if not isinstance(tunnel_name, str) or not tunnel_name:
            raise _bad_parameter("json: tunnel_name must be a non-empty string")
        if not isinstance(raw, str):
            raise _bad_parameter("json: raw must be a base64 string")
        try:
            message = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise _bad_parameter("raw is not valid base64") from None
        entry = await self.core.send(tunnel_name, message)
        answer = json_response(entry.to_api(), 201)
        answer.headers["Location"] = entry.to_api()["uri"]
        return answer

    async def clear(self, request: web.BaseRequest, arg: str) -> web.StreamResponse:
        """``DELETE /api/requests/http`` (204)."""
        self.core.store.clear()
        return empty_response()


async def _json_body(request: web.BaseRequest, timeout: float | None) -> Any:
    """The request's JSON body, read under the body idle timeout and ``BODY_MAX``."""
    parts: list[bytes] = []
    size = 0
    try:
        async for data, _ in timed_chunks(request.content, timeout):
            size += len(data)
            if size > BODY_MAX:
                raise ApiError(
                    413, "request body too large", {"err": f"more than {BODY_MAX} bytes"}
                )
            parts.append(data)
    except BodyTimeout as exc:
        raise ApiError(408, "request body did not arrive in time", {"err": str(exc)}) from None
    raw = b"".join(parts)
    try:
        return json.loads(raw.decode("utf-8") if raw else "", parse_constant=_no_constant)
    except RecursionError:
        raise _bad_parameter("JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad_parameter(_json_error(exc)) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON value {name}")


def _json_error(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at offset {exc.pos}"
    return "request body is not UTF-8"
