"""HTTP/1.1 on the wire, as an intermediary sees it: header rules, message heads, error pages.

Pure functions over aiohttp's parsed messages (raw headers as ``(bytes, bytes)`` pairs):
which fields a proxy must not forward (RFC 9110 section 7.6.1), the request target it
may send upstream, the head bytes a capture records, the agent's own error answer.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import EmptyStreamReader, StreamReader
from multidict import CIMultiDict

from ngrok_inspect.bodies import dechunk
from ngrok_inspect.local_agent.reachability import os_reason

# RFC 9110 section 7.6.1: connection-specific fields a proxy must not forward.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "proxy-connection",
        "keep-alive",
        "te",
        "transfer-encoding",
        "upgrade",
        "trailer",
    }
)
# Fields that framing or routing depend on: never dropped because ``Connection`` names
# them (RFC 9110 section 7.6.1), or a client could make the agent forward bytes whose
# boundary only the upstream sees (request smuggling onto a pooled connection).
PROTECTED = frozenset({"content-length", "transfer-encoding", "host"})
# headers aiohttp's client would add on its own: the upstream gets only what was sent
SKIP_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


_ALWAYS_DROPPED = frozenset(name.encode() for name in HOP_BY_HOP | {"expect"})
_PROTECTED = frozenset(name.encode() for name in PROTECTED)
_UPGRADE = frozenset({b"upgrade", b"connection"})
_REPLACED = frozenset({b"x-forwarded-proto", b"x-forwarded-host"})


def forward_fields(
    raw_headers: Any,
    remote_addr: str,
    scheme: str,
    *,
    keep_upgrade: bool = False,
    content_length: int | None = None,
    default_host: bytes | None = None,
) -> list[tuple[bytes, bytes]]:
    """The request header fields to send upstream, as bytes in wire order: hop-by-hop
    removed, X-Forwarded-* added and, with ``content_length``, the agent's own
    ``Content-Length`` in place of the client's (the framing of the bytes it forwards);
    ``default_host`` is sent as ``Host`` when the request has none (HTTP/1.0)."""
    # Expect: 100-continue is answered by the agent itself (see Proxy.handle)
    drop = _ALWAYS_DROPPED
    if keep_upgrade:
        drop = drop - _UPGRADE
    if content_length is not None:
        drop = drop | {b"content-length"}
    out: list[tuple[bytes, bytes]] = []
    forwarded_for: list[bytes] = []
    host = b""
    named: set[bytes] | None = None  # fields the Connection headers name
    for k, v in raw_headers:
        low = k.lower()
        if low == b"connection":
            named = named or set()
            named.update(t.strip().lower() for t in v.split(b","))
        if low in drop:
            continue
        if low == b"x-forwarded-for":
            forwarded_for.append(v)
            continue
        if low in _REPLACED:
            continue
        if low == b"host":
            host = v
        out.append((k, v))
    if named:  # hop-by-hop too, but never what framing or routing depend on
        named -= _PROTECTED
        if keep_upgrade:
            named -= _UPGRADE
        if named:
            out = [(k, v) for k, v in out if k.lower() not in named]
            if b"x-forwarded-for" in named:
                forwarded_for = []
    if remote_addr:
        forwarded_for.append(remote_addr.encode("latin-1"))
    if forwarded_for:
        out.append((b"X-Forwarded-For", b", ".join(forwarded_for)))
    out.append((b"X-Forwarded-Proto", scheme.encode("latin-1")))
    if host:
        out.append((b"X-Forwarded-Host", host))
    elif default_host is not None:
        out.append((b"Host", default_host))
    if content_length is not None:
        out.append((b"Content-Length", b"%d" % content_length))
    return out


_NOT_RELAYED = frozenset(name.encode() for name in HOP_BY_HOP | {"content-length"})


def relayed_fields(raw_headers: Any) -> list[tuple[bytes, bytes]]:
    """An answer's header fields as relayed to the client: hop-by-hop ones and those its
    ``Connection`` headers name removed, and its framing (the agent frames the answer
    itself, see :class:`~public.Reply`)."""
    out: list[tuple[bytes, bytes]] = []
    named: set[bytes] | None = None
    for k, v in raw_headers:
        low = k.lower()
        if low in _NOT_RELAYED:
            if low == b"connection":
                named = named or set()
                named.update(t.strip().lower() for t in v.split(b","))
            continue
        out.append((k, v))
    if named:
        out = [(k, v) for k, v in out if k.lower() not in named]
    return out


def forward_headers(raw_headers: Any, remote_addr: str, scheme: str) -> CIMultiDict[str]:
    """:func:`forward_fields` as the header mapping aiohttp's client takes."""
    return decoded(forward_fields(raw_headers, remote_addr, scheme))


def decoded(fields: list[tuple[bytes, bytes]]) -> CIMultiDict[str]:
    """Header fields as bytes pairs -> the mapping aiohttp's client takes."""
    return CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in fields)


_PROTOS: dict[Any, str] = {}


def proto_of(version: Any) -> str:
    """``HTTP/1.1`` from aiohttp's ``HttpVersion`` (HTTP/1.1 when unknown)."""
    proto = _PROTOS.get(version)
    if proto is None:
        proto = f"HTTP/{version.major}.{version.minor}" if version else "HTTP/1.1"
        if len(_PROTOS) < 16:  # the versions the parser accepts: a handful
            _PROTOS[version] = proto
    return proto


def request_head(method: str, uri: str, proto: str, raw_headers: Any) -> bytes:
    """Request line and header block as on the wire (CRLF, blank line included)."""
    lines = [f"{method} {uri} {proto}\r\n".encode("latin-1")]
    lines.extend(k + b": " + v + b"\r\n" for k, v in raw_headers)
    lines.append(b"\r\n")
    return b"".join(lines)


def response_head(proto: str, status: int, reason: str, raw_headers: Any) -> bytes:
    """Status line and header block as on the wire."""
    lines = [f"{proto} {status} {reason}\r\n".encode("latin-1")]
    lines.extend(k + b": " + v + b"\r\n" for k, v in raw_headers)
    lines.append(b"\r\n")
    return b"".join(lines)


def is_chunked(raw_headers: Any) -> bool:
    """Whether a Transfer-Encoding header ends in ``chunked``."""
    for k, v in raw_headers:
        if k.lower() == b"transfer-encoding" and v.lower().rstrip().endswith(b"chunked"):
            return True
    return False


def origin_form(method: str, target: str) -> str | None:
    """The request target as sent upstream, or None when it must be refused.

    Only the tunnel decides where bytes go: an absolute-form target keeps only its path
    and query, ``*`` is kept for OPTIONS, and anything else (authority-form, userinfo,
    a bare host) is refused instead of being glued onto the upstream URL.
    """
    if target.startswith("/"):
        return target
    if target == "*" and method == "OPTIONS":
        return target
    low = target[:8].lower()
    if low.startswith(("http://", "https://")):
        rest = target.split("://", 1)[1]
        cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=-1)
        if cut < 0:
            return "/"
        path = rest[cut:]
        return path if path.startswith("/") else "/" + path
    return None


def error_page(status: int, reason: str, detail: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The agent's own error answer (400/502/504): headers and an HTML body."""
    code = {502: "ERR_NGROK_8012", 504: "ERR_NGROK_3004"}.get(status, "ERR_NGROK_8012")
    body = (
        f"<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head><body>"
        f"<h1>{status} {reason}</h1><p>{detail}</p><p>{code}</p></body></html>\n"
    ).encode()
    headers = [
        (b"Content-Type", b"text/html"),
        (b"Content-Length", str(len(body)).encode()),
        (b"Ngrok-Error-Code", code.encode()),
    ]
    return headers, body


def upstream_failure(upstream: str | None, tunnel_name: str, status: int, detail: str) -> str:
    """The sentence of an error page for an upstream that failed (502) or was silent (504)."""
    return f"The upstream {upstream} of tunnel {tunnel_name!r} " + (
        "did not answer in time." if status == 504 else f"failed: {detail}."
    )


def describe_failure(exc: BaseException) -> str:
    """A short, secret-free reason for an upstream failure: ``cannot connect (connection
    refused)``, ``connection reset``, ``the upstream closed the connection without
    answering``…"""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect ({os_reason(exc.os_error)})"
    if isinstance(exc, OSError) and not isinstance(exc, aiohttp.ClientError):
        if isinstance(exc, ConnectionResetError | BrokenPipeError):  # after connecting
            return os_reason(exc)
        return f"cannot connect ({os_reason(exc)})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the upstream closed the connection without answering"
    if isinstance(exc, aiohttp.ClientOSError):
        return os_reason(exc)
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"unreadable answer ({exc.message})"
    if isinstance(exc, HttpProcessingError):
        return "unreadable answer (not HTTP)"
    return type(exc).__name__


async def chunks(stream: StreamReader) -> AsyncIterator[tuple[bytes, bool]]:
    """``(data, ends_http_chunk)`` pieces of a body until its end.

    Unlike ``StreamReader.iter_chunks()`` this ends on aiohttp's shared empty payload
    (whose ``readchunk`` never signals the end once it was read to the end before).
    """
    if isinstance(stream, EmptyStreamReader):
        return
    while True:
        data, end = await stream.readchunk()
        if not data and not end:
            return
        yield data, end


def arrived_whole(stream: StreamReader) -> bytes | None:
    """The whole body if all of it has arrived already (the usual small message, which
    comes with its head), read without waiting; None when some is still to come."""
    if stream.is_eof() and stream.exception() is None:
        return stream.read_nowait(-1)
    return None


_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 9110 section 5.6.2
_VERSION = re.compile(rb"^HTTP/1\.[01]$")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # controls other than tab


@dataclass(frozen=True)
class RequestMessage:
    """An HTTP/1.1 request given whole (``POST /api/requests/http/replay``), parsed."""

    method: str
    target: str
    proto: str
    fields: list[tuple[bytes, bytes]]
    body: bytes  # without chunk framing


def parse_request(raw: bytes) -> RequestMessage:
    """Parse a complete HTTP/1.x request; ValueError says what is wrong with it.

    Strict where a lax reading could send something else than the capture shows:
    CRLF line ends, one space between the request-line parts, token field names, no
    control bytes in values, no obsolete line folding, a Content-Length that matches
    the body exactly (or a valid chunked body), never both.
    """
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("no end of the header block (CRLF CRLF)")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or not parts[1]:
        raise ValueError("the request line is not METHOD SP TARGET SP HTTP/1.x")
    method, target, version = parts
    if not _VERSION.match(version):
        raise ValueError("the request line is not METHOD SP TARGET SP HTTP/1.x")
    if _BAD_VALUE.search(target) or b"\t" in target or any(c > 0x7E for c in target):
        raise ValueError("the request target has control, space or non-ASCII bytes")
    fields: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            raise ValueError("obsolete line folding in the header block")
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.match(name):
            raise ValueError("a header line is not NAME: VALUE")
        value = value.strip(b" \t")
        if _BAD_VALUE.search(value):
            raise ValueError(f"control bytes in the value of {name.decode('ascii')!r}")
        fields.append((name, value))
    lengths = {v for k, v in fields if k.lower() == b"content-length"}
    if is_chunked(fields):
        if lengths:
            raise ValueError("both Content-Length and Transfer-Encoding: chunked")
        body, complete = dechunk(rest)
        if not complete:
            raise ValueError("the chunked body is incomplete or malformed")
    elif lengths:
        if len(lengths) > 1 or not next(iter(lengths)).isdigit():
            raise ValueError("Content-Length is not one number")
        if int(next(iter(lengths))) != len(rest):
            raise ValueError(
                f"Content-Length is {int(next(iter(lengths)))} but the body has {len(rest)} bytes"
            )
        body = rest
    else:
        body = rest
    return RequestMessage(
        method.decode("ascii"), target.decode("ascii"), version.decode("ascii"), fields, body
    )
