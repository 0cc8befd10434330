"""Send an :class:`OutgoingRequest` to a base URL, headers in their captured order and case.

``http.client`` with ``skip_host``/``skip_accept_encoding``: it adds nothing of its own, so
what the receiver gets is exactly the headers we hand it.
"""

from __future__ import annotations

import http.client
import ssl
import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from ngrok_inspect.errors import AgentUnreachableError, UsageError
from ngrok_inspect.replay.message import OutgoingRequest


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
