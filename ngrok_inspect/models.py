"""Typed views of the agent's JSON: captured requests, messages, tunnels, agent status.

Every model keeps the agent's JSON untouched in ``data`` and reads fields from it; unknown
fields are ignored, a missing optional field is None. Parsing of the wire bytes (``raw``)
is lazy (``functools.cached_property``): listing entries costs one dict lookup per field,
and bodies are decoded only when someone asks for them.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ngrok_inspect._lazy import cached_property
from ngrok_inspect.bodies import Body, split_message
from ngrok_inspect.errors import RawUnreadableError

__all__ = [
    "RAW_INVALID",
    "AgentStatus",
    "Body",
    "CapturedRequest",
    "HttpMessage",
    "HttpRequest",
    "HttpResponse",
    "MetricSet",
    "Tunnel",
    "decode_raw",
    "parse_rfc3339",
]


RAW_INVALID = "invalid base64"
"""``raw_error`` of a message whose ``raw`` is not the base64 of its bytes."""


def decode_raw(value: Any) -> tuple[bytes, str | None]:
    """``(bytes, None)`` of the agent's base64 ``raw``; ``(b"", RAW_INVALID)`` when it is
    not one (not a string, bad padding, characters outside the alphabet)."""
    if not isinstance(value, str):
        return b"", RAW_INVALID
    if not value:
        return b"", None
    try:
        data = binascii.a2b_base64(value)  # what base64.b64decode does, one call less
    except (binascii.Error, ValueError):
        return b"", RAW_INVALID
    # a2b_base64 skips characters outside the alphabet: the agent's padded base64 of n
    # bytes is 4 * ceil(n / 3) characters, so anything skipped shows in the lengths
    if len(value) % 4 or len(data) != len(value) // 4 * 3 - value[-2:].count("="):
        return b"", RAW_INVALID
    return data, None


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (``Z`` or an offset; any fraction digits) to aware UTC-or-offset.

    A timestamp without an offset is taken as UTC. Raises ValueError on anything else.
    """
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    # Python 3.10 accepts at most 6 fraction digits: trim nanoseconds.
    if "." in s:
        head, _, rest = s.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        frac, tail = rest[:digits], rest[digits:]
        s = f"{head}.{(frac + '000000')[:6]}{tail}" if frac else head + tail
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt


def _headers_map(value: Any) -> dict[str, list[str]]:
    if type(value) is dict and all(type(v) is list for v in value.values()):
        return dict(value)  # the agent's own lists: not copied here (to_dict copies)
    if not isinstance(value, Mapping):
        return {}
    out: dict[str, list[str]] = {}
    for k, v in value.items():
        if type(v) is list:
            out[k] = v  # the agent's own list of strings: not copied here (to_dict copies)
        elif isinstance(v, (list, tuple)):
            out[str(k)] = [str(x) for x in v]
        elif v is not None:
            out[str(k)] = [str(v)]
    return out


class HttpMessage:
    """One side of an exchange: protocol, headers, exact wire bytes and the decoded body."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.proto: str = str(data.get("proto") or "")
        self.headers: dict[str, list[str]] = _headers_map(data.get("headers"))

    @cached_property
    def _decoded_raw(self) -> tuple[bytes, str | None]:
        if "raw" not in self.data:
            return b"", None
        value = self.data["raw"]
        if value is None:  # what redaction leaves of a raw it could not decode
            return b"", RAW_INVALID
        return decode_raw(value)

    @property
    def raw(self) -> bytes:
        """The exact wire bytes (base64-decoded ``raw``; empty when absent or invalid)."""
        return self._decoded_raw[0]

    @property
    def raw_error(self) -> str | None:
        """Why the agent's ``raw`` could not be read (``"invalid base64"``), else None: the
        wire bytes and the body are then unknown, and the headers come from the agent's map."""
        return self._decoded_raw[1]

    @cached_property
    def _split(self) -> tuple[str, list[tuple[str, str]], bytes]:
        if not self.raw:
            return "", [], b""
        return split_message(self.raw)

    @property
    def start_line(self) -> str:
        """The request or status line as on the wire (rebuilt when ``raw`` is absent)."""
        return self._split[0] or self._default_start_line()

    def _default_start_line(self) -> str:
        return ""

    @cached_property
    def header_lines(self) -> list[tuple[str, str]]:
        """Headers in wire order from ``raw`` (falls back to the agent's ``headers`` map)."""
        if self._split[1]:
            return self._split[1]
        return [(k, v) for k, vs in self.headers.items() for v in vs]

    @cached_property
    def body(self) -> Body:
        """The body with its lazily decoded forms."""
        return Body(self._split[2], self.header_lines)

    def header(self, name: str, default: str | None = None) -> str | None:
        """First value of header ``name`` (case-insensitive), else ``default``."""
        values = self.header_values(name)
        return values[0] if values else default

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive), in order."""
        lname = name.lower()
        out: list[str] = []
        for k, vs in self.headers.items():
            if k.lower() == lname:
                out.extend(vs)
        if not out and not self.headers:
            out = [v for k, v in self.header_lines if k.lower() == lname]
        return out

    def _record_headers(self) -> dict[str, list[str]]:
        """The record's ``headers``: the agent's map, copied."""
        return {k: list(v) for k, v in self.headers.items()}


class HttpRequest(HttpMessage):
    """The captured request: ``method``, ``uri`` (path + query), ``path``, ``query``."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__(data)
        self.method: str = str(data.get("method") or "")
        self.uri: str = str(data.get("uri") or "")
        path, _, query = self.uri.partition("?")
        self.path: str = path
        self.query: str = query

    def _default_start_line(self) -> str:
        return f"{self.method} {self.uri} {self.proto}".strip()

    def to_dict(self) -> dict[str, Any]:
        """The record's ``request`` object."""
        return {
            "proto": self.proto,
            "headers": self._record_headers(),
            "body": self.body.to_dict(),
            "raw_error": self.raw_error,
        }

    def __repr__(self) -> str:
        return f"<HttpRequest {self.method} {self.uri}>"


def _status_code(data: Mapping[str, Any]) -> int:
    code = data.get("status_code")
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    status = str(data.get("status") or "").strip()
    head = status.split(" ", 1)[0]
    return int(head) if head.isdigit() else 0


class HttpResponse(HttpMessage):
    """The captured response: ``status`` (the agent's string), ``status_code``, ``reason``."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__(data)
        self.status_code: int = _status_code(data)
        status = data.get("status")
        self.status: str = str(status) if status else str(self.status_code)
        head, _, reason = self.status.partition(" ")
        self.reason: str = reason if head.isdigit() else ""

    def _default_start_line(self) -> str:
        return f"{self.proto} {self.status}".strip()

    def to_dict(self) -> dict[str, Any]:
        """The record's ``response`` object."""
        return {
            "proto": self.proto,
            "status": self.status,
            "status_code": self.status_code,
            "headers": self._record_headers(),
            "body": self.body.to_dict(),
            "raw_error": self.raw_error,
        }

    def __repr__(self) -> str:
        return f"<HttpResponse {self.status}>"


class CapturedRequest:
    """One entry of the agent's request history (``GET /api/requests/http[/{id}]``).

    ``data`` is the agent's JSON exactly as served. ``duration_ns`` is the agent's exact
    integer; ``duration_ms`` the same in milliseconds (float). ``error`` says why an
    exchange did not complete (the local agent's ``error`` field: an answer cut off
    mid-body, a request body that stopped coming, a client that left before the answer);
    None when it did, and for real ngrok agents. ``status_code`` is None while there is no
    response: ``pending`` while the exchange is in flight, ``failed`` when it ended without
    one (an ``error`` and no response).
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data: dict[str, Any] = dict(data)
        self.id: str = str(data["id"])
        self.tunnel_name: str = str(data.get("tunnel_name") or "")
        self.uri: str = str(data.get("uri") or f"/api/requests/http/{self.id}")
        remote = data.get("remote_addr")
        self.remote_addr: str = "" if remote is None else str(remote)
        self.start_text: str = str(data["start"])
        self.start: datetime = parse_rfc3339(self.start_text)
        dur = data.get("duration") or 0
        self.duration_ns: int = int(dur)
        self.duration_ms: float = self.duration_ns / 1e6
        self.request: HttpRequest = HttpRequest(data["request"])
        resp = data.get("response")
        self.response: HttpResponse | None = (
            HttpResponse(resp) if isinstance(resp, Mapping) else None
        )
        error = data.get("error")
        self.error: str | None = error if isinstance(error, str) and error else None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> CapturedRequest:
        """Build from the agent's JSON; ValueError names a missing or malformed required key.

        Required: ``id``, ``start`` and ``request`` (an object with ``method``, ``uri``).
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"captured request is {type(data).__name__}, not an object")
        for key in ("id", "start", "request"):
            if data.get(key) in (None, ""):
                raise ValueError(f"captured request without {key!r}")
        req = data["request"]
        if not isinstance(req, Mapping):
            raise ValueError("captured request's 'request' is not an object")
        for key in ("method", "uri"):
            if not req.get(key):
                raise ValueError(f"captured request without 'request.{key}'")
        dur = data.get("duration")
        if dur is not None and (isinstance(dur, bool) or not isinstance(dur, (int, float))):
            raise ValueError("captured request with a non-numeric 'duration'")
        try:
            return cls(data)
        except (TypeError, ValueError) as e:
            raise ValueError(f"malformed captured request {data.get('id')!r}: {e}") from None

    @property
    def method(self) -> str:
        """HTTP method of the request."""
        return self.request.method

    @property
    def path(self) -> str:
        """Request path without the query string."""
        return self.request.path

    @property
    def status_code(self) -> int | None:
        """Response status as an int; None without a response (pending or failed)."""
        return None if self.response is None else self.response.status_code

    @property
    def pending(self) -> bool:
        """True while the exchange is in flight: no response yet and no ``error``."""
        return self.response is None and self.error is None

    @property
    def failed(self) -> bool:
        """True for an exchange that ended without a response; ``error`` says why."""
        return self.response is None and self.error is not None

    @property
    def is_error(self) -> bool:
        """True for a status >= 400, no response, or an exchange that broke off."""
        return self.error is not None or self.response is None or self.response.status_code >= 400

    @property
    def replayed(self) -> bool:
        """True for an entry the agent made by replaying another (``remote_addr: replayed``)."""
        return self.remote_addr == "replayed"

    def check_raw(self, *sides: str) -> None:
        """:class:`~ngrok_inspect.errors.RawUnreadableError` when the ``raw`` of a side
        (``"request"``, ``"response"``) is not valid base64: before writing exact bytes."""
        for side in sides:
            msg = self.request if side == "request" else self.response
            if msg is not None and msg.raw_error is not None:
                raise RawUnreadableError(self.id, side, msg.raw_error)

    def to_dict(self) -> dict[str, Any]:
        """THE JSON record (docs/internals.md): every key present, null when unknown."""
        return {
            "id": self.id,
            "tunnel": self.tunnel_name,
            "remote_addr": self.remote_addr,
            "start": self.start.isoformat(),
            "duration_ms": round(self.duration_ms, 3),
            "method": self.method,
            "uri": self.request.uri,
            "path": self.path,
            "status_code": self.status_code,
            "request": self.request.to_dict(),
            "response": None if self.response is None else self.response.to_dict(),
            "error": self.error,
        }

    def __repr__(self) -> str:
        return f"<CapturedRequest {self.id} {self.method} {self.request.uri} {self.status_code}>"


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


@dataclass(frozen=True)
class MetricSet:
    """A tunnel's connection or HTTP metrics: counts, rates per second, latencies in ms."""

    count: int = 0
    gauge: int | None = None
    rate1: float | None = None
    rate5: float | None = None
    rate15: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None

    @classmethod
    def from_api(cls, data: Any) -> MetricSet:
        """From the agent's metrics object (percentiles in nanoseconds)."""
        if not isinstance(data, Mapping):
            return cls()

        def ms(key: str) -> float | None:
            v = _num(data.get(key))
            return None if v is None else v / 1e6

        count = _num(data.get("count"))
        gauge = _num(data.get("gauge"))
        return cls(
            count=int(count or 0),
            gauge=None if gauge is None else int(gauge),
            rate1=_num(data.get("rate1")),
            rate5=_num(data.get("rate5")),
            rate15=_num(data.get("rate15")),
            p50_ms=ms("p50"),
            p90_ms=ms("p90"),
            p95_ms=ms("p95"),
            p99_ms=ms("p99"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "count": self.count,
            "gauge": self.gauge,
            "rate1": self.rate1,
            "rate5": self.rate5,
            "rate15": self.rate15,
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
        }


class Tunnel:
    """A tunnel of the agent (``GET /api/tunnels[/{name}]``)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data: dict[str, Any] = dict(data)
        self.name: str = str(data["name"])
        self.uri: str = str(data.get("uri") or "")
        self.public_url: str = str(data.get("public_url") or "")
        self.proto: str = str(data.get("proto") or "")
        config = data.get("config")
        config = config if isinstance(config, Mapping) else {}
        addr = config.get("addr")
        self.addr: str | None = None if addr is None else str(addr)
        self.inspect: bool = bool(config.get("inspect", True))
        tid = data.get("ID", data.get("id"))
        self.id: str | None = None if tid is None else str(tid)
        metrics = data.get("metrics")
        metrics = metrics if isinstance(metrics, Mapping) else {}
        self.metrics_conns: MetricSet = MetricSet.from_api(metrics.get("conns"))
        self.metrics_http: MetricSet = MetricSet.from_api(metrics.get("http"))

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Tunnel:
        """Build from the agent's JSON; ValueError when ``name`` is missing."""
        if not isinstance(data, Mapping) or not data.get("name"):
            raise ValueError("tunnel without 'name'")
        return cls(data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (metrics in ms and per second)."""
        return {
            "name": self.name,
            "uri": self.uri,
            "public_url": self.public_url,
            "proto": self.proto,
            "addr": self.addr,
            "inspect": self.inspect,
            "id": self.id,
            "metrics": {"conns": self.metrics_conns.to_dict(), "http": self.metrics_http.to_dict()},
        }

    def __repr__(self) -> str:
        return f"<Tunnel {self.name!r} {self.public_url} -> {self.addr}>"


class AgentStatus:
    """The agent's status (``GET /api/status``, agents >= 3.9).

    A 2.x agent has no status endpoint: :meth:`legacy_online` stands for it (``status``
    ``"online"``, ``agent_version`` None, ``legacy`` True).
    """

    def __init__(self, data: Mapping[str, Any], *, legacy: bool = False) -> None:
        self.data: dict[str, Any] = dict(data)
        self.status: str = str(data.get("status") or "unknown")
        version = data.get("agent_version")
        self.agent_version: str | None = None if version is None else str(version)
        session = data.get("session")
        self.session: dict[str, Any] = dict(session) if isinstance(session, Mapping) else {}
        self.uri: str = str(data.get("uri") or "/api/status")
        self.legacy: bool = legacy

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> AgentStatus:
        """Build from ``GET /api/status``; ValueError when the answer is not an object."""
        if not isinstance(data, Mapping):
            raise ValueError("status is not an object")
        return cls(data)

    @classmethod
    def legacy_online(cls) -> AgentStatus:
        """The status of an agent that answers its API but has no ``/api/status`` (2.x)."""
        return cls({}, legacy=True).with_status("online")

    def with_status(self, status: str) -> AgentStatus:
        """A copy with ``status`` replaced."""
        new = AgentStatus(self.data, legacy=self.legacy)
        new.status = status
        return new

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "status": self.status,
            "agent_version": self.agent_version,
            "session": self.session,
            "uri": self.uri,
            "legacy": self.legacy,
        }

    def __repr__(self) -> str:
        return f"<AgentStatus {self.status} {self.agent_version or '(2.x)'}>"
