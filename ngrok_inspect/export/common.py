"""What the export formats share: header look-ups, the body as sent, URLs, order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ngrok_inspect.bodies import dechunk
from ngrok_inspect.models import CapturedRequest, HttpMessage

__all__ = ["chronological", "full_url", "header", "header_values", "payload", "raw_undecodable"]


def header_values(msg: HttpMessage, name: str) -> list[str]:
    """Values of a header as on the wire (the bytes every format reproduces)."""
    lname = name.lower()
    return [v for k, v in msg.header_lines if k.lower() == lname]


def header(msg: HttpMessage, name: str) -> str | None:
    values = header_values(msg, name)
    return values[0] if values else None


def payload(msg: HttpMessage) -> bytes:
    """The body as sent: de-chunked but still content-encoded (what Content-Length counts)."""
    wire = msg.body.wire
    te = header(msg, "Transfer-Encoding") or ""
    if "chunked" in te.lower():
        return dechunk(wire)[0]
    return wire


def _origin(req: CapturedRequest, public_urls: Mapping[str, str] | None) -> str:
    url = (public_urls or {}).get(req.tunnel_name)
    if url:
        return url.rstrip("/")
    origin = req.data.get("origin")  # an imported entry's scheme://host (docs/archive.md)
    if isinstance(origin, str) and origin.startswith(("http://", "https://")):
        return origin.rstrip("/")
    host = header(req.request, "Host") or header(req.request, ":authority") or "localhost"
    proto = (header(req.request, "X-Forwarded-Proto") or "http").split(",")[0].strip().lower()
    return f"{proto if proto in ('http', 'https') else 'http'}://{host}"


def full_url(req: CapturedRequest, public_urls: Mapping[str, str] | None = None) -> str:
    """The request's absolute URL: the tunnel's public URL (else the Host header) + uri."""
    uri = req.request.uri
    if uri.startswith(("http://", "https://")):
        return uri
    return _origin(req, public_urls) + (uri if uri.startswith("/") else "/" + uri)


def chronological(reqs: Iterable[CapturedRequest]) -> list[CapturedRequest]:
    # the agent lists newest first; reversing first keeps same-second entries in order
    oldest_first = list(reqs)
    oldest_first.reverse()
    oldest_first.sort(key=lambda r: r.start)  # stable
    return oldest_first


def raw_undecodable(msg: HttpMessage) -> bool:
    """True when the agent sent a ``raw`` that is not valid base64 (or redaction nulled it):
    the wire bytes, hence the body, are unknown; headers come from the agent's map."""
    return msg.raw_error is not None
