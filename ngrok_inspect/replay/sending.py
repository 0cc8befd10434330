"""Send an :class:`OutgoingRequest` to a base URL, headers in their captured order and case.

``http.client`` with ``skip_host``/``skip_accept_encoding``: it adds nothing of its own, so
what the receiver gets is exactly the headers we hand it. :func:`send_captured` instead
hands the message to an ``ngrok-inspect agent``, which sends it through its tunnel and
captures it (``remote_addr: "replayed"``).
"""

from __future__ import annotations

import http.client
import ssl
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ngrok_inspect.bodies import dechunk
from ngrok_inspect.errors import AgentUnreachableError, UsageError
from ngrok_inspect.replay.message import OutgoingRequest

if TYPE_CHECKING:
    from ngrok_inspect.client import AgentClient
    from ngrok_inspect.models import CapturedRequest


@dataclass(frozen=True)
class SentResult:
    """The answer to one sent request."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    duration_ms: float
    url: str
    dropped_encoding: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "status_code": self.status,
            "status": f"{self.status} {self.reason}".strip(),
            "duration_ms": round(self.duration_ms, 3),
            "response": {
                "headers": [[k, v] for k, v in self.headers],
                "body_size": len(self.body),
            },
        }


def destination(base: str, target: str) -> tuple[str, str, int, str, str]:
    """``(scheme, host, port, request-target, full url)`` for ``target`` sent to ``base``.
    A ``base`` with a path other than ``/`` prefixes the target's path."""
    parts = urlsplit(base if "://" in base else "http://" + base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"cannot send to {base!r}: not an http(s) URL", hint="e.g. --to http://127.0.0.1:3000"
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    prefix = parts.path.rstrip("/")
    full_target = prefix + target if prefix else target
    url = f"{parts.scheme}://{parts.netloc}{full_target}"
    return parts.scheme, parts.hostname, port, full_target, url


def for_destination(req: OutgoingRequest, base: str) -> tuple[OutgoingRequest, str]:
    """``req`` as it will be sent to ``base`` (``Host`` set to the destination, target
    prefixed by the base's path) and the full URL."""
    _scheme, _host, _port, target, url = destination(base, req.target)
    return replace(req, target=target).set_header("Host", urlsplit(url).netloc), url


def send(
    req: OutgoingRequest, base: str, *, timeout: float = 30.0, host_header: bool = True
) -> SentResult:
    """Send ``req`` to ``base`` (scheme://host[:port][/prefix]); ``Host`` is set to the
    destination unless ``host_header`` is False."""
    scheme, host, port, target, url = destination(base, req.target)
    out = req
    if host_header:
        netloc = urlsplit(url).netloc
        out = out.set_header("Host", netloc)
    headers, body, dropped = out.wire()
    conn: http.client.HTTPConnection
    if scheme == "https":
        conn = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    started = time.perf_counter()
    try:
        conn.putrequest(out.method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders(body if body else None)
        resp = conn.getresponse()
        data = resp.read()
        elapsed = (time.perf_counter() - started) * 1000
        return SentResult(
            resp.status, resp.reason, list(resp.getheaders()), data, elapsed, url, dropped
        )
    except (OSError, http.client.HTTPException) as e:
        raise AgentUnreachableError(
            url,
            type(e).__name__ if not str(e) else str(e)[:80],
            message=f"could not send the request to {url} ({type(e).__name__})",
            hint="Is the destination up? Check the URL given to --to",
        ) from None
    finally:
        conn.close()


def message_bytes(req: OutgoingRequest) -> tuple[bytes, str | None]:
    """``req`` as one HTTP/1.1 message (request line, headers as given, body) and, when
    its Content-Encoding had to be dropped, that encoding."""
    headers, body, dropped = req.wire()
    lines = [f"{req.method} {req.target} HTTP/1.1\r\n"]
    lines.extend(f"{name}: {value}\r\n" for name, value in headers)
    lines.append("\r\n")
    return "".join(lines).encode("latin-1") + body, dropped


def send_captured(
    client: AgentClient, req: OutgoingRequest, tunnel_name: str, public_url: str
) -> tuple[CapturedRequest, SentResult]:
    """Send ``req`` through the tunnel ``tunnel_name`` (public URL ``public_url``) of an
    ``ngrok-inspect agent``, which captures it as ``remote_addr: "replayed"``.

    The message is the one :func:`send` would send to ``public_url`` (``Host`` set to
    it); the result is the new capture and its answer as a :class:`SentResult`.
    """
    final, url = for_destination(req, public_url)
    raw, dropped = message_bytes(final)
    captured = client.send_request(raw, tunnel_name)
    resp = captured.response
    if resp is None:  # the agent always answers a send: its capture is complete
        raise AgentUnreachableError(url, "no answer recorded")
    body = resp.body
    chunked = any(
        k.lower() == "transfer-encoding" and "chunked" in v.lower() for k, v in resp.header_lines
    )
    wire = dechunk(body.wire)[0] if chunked else body.wire  # as http.client would return it
    result = SentResult(
        resp.status_code,
        resp.status.partition(" ")[2],
        list(resp.header_lines),
        wire,
        captured.duration_ms,
        url,
        dropped,
    )
    return captured, result
