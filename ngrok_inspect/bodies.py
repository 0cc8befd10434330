"""Raw HTTP message parsing: split the wire bytes, de-chunk, decompress, classify.

The agent stores each message as the exact bytes seen on the wire (``raw``, base64). This
module turns those bytes into a start line, header lines and a :class:`Body` whose
decoded forms (``data``, ``text``, ``json``, ``form``, ``parts``) are computed lazily and
cached, so listing a thousand captured requests never decodes a body nobody asked for.

Nothing here does I/O or prints; errors in captured data never raise, they are reported
on the body (``decode_error``, ``truncated``).
"""

from __future__ import annotations

import base64
import json as _json
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from ngrok_inspect._lazy import cached_property

__all__ = [
    "Body",
    "BodyPart",
    "dechunk",
    "decompress",
    "parse_content_type",
    "split_message",
]

_MISSING = object()


def split_message(raw: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
    """Split wire bytes into ``(start_line, header_lines, body)``.

    Header lines keep their wire order and spelling; a message without a blank line after
    its headers (cut off) yields what was there and an empty body.
    """
    sep = raw.find(b"\r\n\r\n")
    if sep >= 0:
        head, body = raw[:sep], raw[sep + 4 :]
    else:
        sep = raw.find(b"\n\n")
        if sep >= 0:
            head, body = raw[:sep], raw[sep + 2 :]
        else:
            head, body = raw, b""
    lines = head.decode("latin-1").replace("\r\n", "\n").split("\n")
    start_line = lines[0] if lines else ""
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t" and headers:  # obsolete line folding
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return start_line, headers, body


def dechunk(data: bytes) -> tuple[bytes, bool]:
    """Decode a ``Transfer-Encoding: chunked`` body; return ``(payload, complete)``.

    ``complete`` is False when the terminating zero-size chunk is missing or a chunk is cut
    short (a truncated capture); the payload then holds what could be read.
    """
    out = bytearray()
    pos = 0
    n = len(data)
    while pos < n:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return bytes(out), False
        size_text = data[pos:eol].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return bytes(out), False
        pos = eol + 2
        if size == 0:
            return bytes(out), True
        chunk = data[pos : pos + size]
        out += chunk
        if len(chunk) < size:
            return bytes(out), False
        pos += size + 2  # chunk data is followed by CRLF
    return bytes(out), False


def decompress(data: bytes, encoding: str | None) -> tuple[bytes, str | None]:
    """Undo ``Content-Encoding``; return ``(data, error)``.

    Handles gzip (x-gzip), deflate (zlib-wrapped or raw), br and identity, also stacked
    (``gzip, br``). On failure the input is returned unchanged with a one-line error such
    as ``"unknown content-encoding 'zstd'"`` or ``"corrupt gzip data"``. A stream cut
    short yields what was decompressed so far.
    """
    if not encoding:
        return data, None
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
    for coding in reversed(codings):  # the last applied is undone first
        if coding in ("identity", ""):
            continue
        try:
            if coding in ("gzip", "x-gzip"):
                data = _zlib_partial(data, 16 + zlib.MAX_WBITS)
            elif coding == "deflate":
                try:
                    data = _zlib_partial(data, zlib.MAX_WBITS)
                except zlib.error:
                    data = _zlib_partial(data, -zlib.MAX_WBITS)
            elif coding == "br":
                try:
                    import brotli
                except ImportError:  # pragma: no cover - brotli is a dependency
                    return data, "cannot decode br: the brotli module is not installed"
                data = brotli.decompress(data)
            else:
                return data, f"unknown content-encoding {coding!r}"
        except Exception:
            return data, f"corrupt {coding} data"
    return data, None


def compress(data: bytes, encoding: str) -> bytes | None:
    """``data`` encoded per ``Content-Encoding`` (stacked codings in the order given), the
    inverse of :func:`decompress`; None for a coding that cannot be produced here."""
    for coding in (c.strip().lower() for c in encoding.split(",") if c.strip()):
        if coding == "identity":
            continue
        if coding in ("gzip", "x-gzip"):
            co = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
            data = co.compress(data) + co.flush()
        elif coding == "deflate":
            data = zlib.compress(data)
        elif coding == "br":
            import brotli

            data = brotli.compress(data)
        else:
            return None
    return data


def _zlib_partial(data: bytes, wbits: int) -> bytes:
    d = zlib.decompressobj(wbits)
    out = d.decompress(data)
    return out + d.flush()


def parse_content_type(value: str | None) -> tuple[str | None, dict[str, str]]:
    """``"text/html; charset=UTF-8"`` -> ``("text/html", {"charset": "UTF-8"})``."""
    if not value:
        return None, {}
    parts = value.split(";")
    media = parts[0].strip().lower() or None
    params: dict[str, str] = {}
    for p in parts[1:]:
        k, eq, v = p.partition("=")
        if eq:
            params[k.strip().lower()] = v.strip().strip('"')
    return media, params


_TEXT_TYPES = {
    "application/javascript",
    "application/ecmascript",
    "application/x-javascript",
    "application/graphql",
    "application/x-ndjson",
    "application/yaml",
    "application/x-yaml",
    "application/toml",
    "application/sql",
    "application/csv",
}


def _media_kind(media: str | None) -> str | None:
    if media is None:
        return None
    if media == "application/json" or media.endswith("+json") or media.endswith("/json"):
        return "json"
    if media == "application/x-www-form-urlencoded":
        return "form"
    if media.startswith("multipart/"):
        return "multipart"
    if media in ("text/html", "application/xhtml+xml"):
        return "html"
    if media.endswith("/xml") or media.endswith("+xml"):
        return "xml"
    if media.startswith("text/") or media in _TEXT_TYPES:
        return "text"
    return "binary"


def _looks_text(data: bytes) -> bool:
    sample = data[:4096]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as e:
        # a multi-byte character cut by the sample end is fine
        if e.start < len(sample) - 4:
            return False
    return not any(b < 9 or (13 < b < 32 and b != 27) for b in sample)


def _content_length(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        n = int(value.split(",")[0].strip())
    except ValueError:
        return None
    return n if n >= 0 else None


class _Framing:
    """What a message's headers say about its body (shared between bodies: read-only)."""

    __slots__ = ("chunked", "declared_length", "encoding", "media", "media_kind", "params")

    def __init__(
        self,
        media: str | None,
        params: dict[str, str],
        encoding: str | None,
        declared_length: int | None,
        chunked: bool,
    ) -> None:
        self.media = media  # Content-Type's media type, lower-case
        self.params = params  # its parameters (charset, boundary)
        self.media_kind = _media_kind(media)  # what the media type says the body is
        self.encoding = encoding  # Content-Encoding; None for identity or absent
        self.declared_length = declared_length  # Content-Length, when valid
        self.chunked = chunked  # Transfer-Encoding: chunked


@lru_cache(maxsize=256)
def _parse_framing(
    content_type: str | None,
    content_encoding: str | None,
    content_length: str | None,
    transfer_encoding: str | None,
) -> _Framing:
    """Parse the framing headers (cached: a capture repeats the same few values a lot)."""
    media, params = parse_content_type(content_type)
    encoding = content_encoding
    if encoding is not None:
        encoding = encoding.strip()
        if encoding.lower() in ("", "identity"):
            encoding = None
    return _Framing(
        media,
        params,
        encoding,
        _content_length(content_length),
        transfer_encoding is not None and "chunked" in transfer_encoding.lower(),
    )


@dataclass(frozen=True)
class BodyPart:
    """One part of a ``multipart/*`` body."""

    name: str | None
    filename: str | None
    headers: list[tuple[str, str]]
    body: Body


class Body:
    """A message body: the captured bytes and their decoded forms (all lazy).

    ``wire`` is the body exactly as captured; ``data`` is de-chunked and decompressed when
    the encoding is known. ``truncated`` says the capture is shorter than the message
    declared (``Content-Length``, or a chunked body without its last chunk).
    """

    def __init__(self, wire: bytes, headers: list[tuple[str, str]]) -> None:
        self.wire = wire
        self._headers = headers

    @cached_property
    def _framing(self) -> _Framing:
        """What the headers say about the body (the first value of each header counts)."""
        first = {k.lower(): v for k, v in reversed(self._headers)}
        return _parse_framing(
            first.get("content-type"),
            first.get("content-encoding"),
            first.get("content-length"),
            first.get("transfer-encoding"),
        )

    @property
    def content_type(self) -> str | None:
        """Media type, lower-case, without parameters (None when not given)."""
        return self._framing.media

    @property
    def charset(self) -> str | None:
        """The ``charset`` parameter of Content-Type, when given."""
        return self._framing.params.get("charset")

    @property
    def boundary(self) -> str | None:
        """The multipart boundary, when given."""
        return self._framing.params.get("boundary")

    @property
    def encoding(self) -> str | None:
        """``Content-Encoding`` as captured (``"gzip"``); None for identity/absent."""
        return self._framing.encoding

    @property
    def declared_length(self) -> int | None:
        """``Content-Length`` as declared, when given and valid."""
        return self._framing.declared_length

    @cached_property
    def _decoded(self) -> tuple[bytes, bool, str | None]:
        framing = self._framing
        data = self.wire
        if framing.chunked:
            data, complete = dechunk(data)
            truncated = not complete
        else:
            declared = framing.declared_length
            truncated = declared is not None and len(data) < declared
        if framing.encoding is None:  # identity: the body is the wire slice itself
            return data, truncated, None
        data, error = decompress(data, framing.encoding)
        return data, truncated, error

    @property
    def data(self) -> bytes:
        """The body de-chunked and decompressed (the wire bytes if that failed)."""
        return self._decoded[0]

    @property
    def truncated(self) -> bool:
        """True when the capture is shorter than the message declared."""
        return self._decoded[1]

    @property
    def decode_error(self) -> str | None:
        """Why the body could not be decompressed, if it could not."""
        return self._decoded[2]

    @property
    def size(self) -> int:
        """Size of the decoded body in bytes."""
        return len(self.data)

    @cached_property
    def text(self) -> str | None:
        """The body as text (charset applied; UTF-8 by default); None for binary bodies."""
        data, _, error = self._decoded
        if not data:
            return ""
        if error is not None:
            return None
        kind = self._framing.media_kind
        if kind == "binary" or ((kind is None or kind == "multipart") and not _looks_text(data)):
            return None
        charset = self._framing.params.get("charset") or "utf-8"
        try:
            return data.decode(charset)
        except LookupError:
            return data.decode("utf-8", errors="replace")
        except UnicodeDecodeError:
            if kind is None or not _looks_text(data):
                return None
            return data.decode(charset, errors="replace")

    @cached_property
    def _json(self) -> Any:
        text = self.text
        if not text:
            return _MISSING
        media_kind = self._framing.media_kind
        if media_kind != "json" and not (
            media_kind in (None, "text") and text.lstrip()[:1] in ("{", "[")
        ):
            return _MISSING
        try:
            return _json.loads(text)
        except ValueError:
            return _MISSING

    @property
    def is_json(self) -> bool:
        """True when the body parses as JSON (declared JSON, or untyped text that is)."""
        return self._json is not _MISSING

    @property
    def json(self) -> Any:
        """The parsed JSON body (None unless :attr:`is_json`)."""
        value = self._json
        return None if value is _MISSING else value

    @cached_property
    def kind(self) -> str:
        """One of empty, json, form, multipart, xml, html, text, binary."""
        data, _, error = self._decoded
        if not data:
            return "empty"
        media_kind = self._framing.media_kind
        if media_kind == "multipart" and error is None:
            return "multipart"
        if self.text is None:
            return "binary"
        if self._json is not _MISSING:
            return "json"
        if media_kind == "json" or media_kind is None:
            return "text"
        return media_kind

    @cached_property
    def form(self) -> list[tuple[str, str]] | None:
        """URL-encoded form fields in order (None unless the body is a form)."""
        if self._framing.media_kind != "form" or self.text is None:
            return None
        return parse_qsl(self.text, keep_blank_values=True)

    @cached_property
    def parts(self) -> list[BodyPart] | None:
        """The parts of a multipart body (None unless multipart with a boundary)."""
        if self._framing.media_kind != "multipart" or not self.boundary:
            return None
        delim = b"--" + self.boundary.encode("latin-1")
        chunks = self.data.split(delim)
        out: list[BodyPart] = []
        for chunk in chunks[1:]:
            if chunk.startswith(b"--"):
                break
            chunk = chunk.removeprefix(b"\r\n").removeprefix(b"\n")
            chunk = chunk.removesuffix(b"\r\n").removesuffix(b"\n")
            _, headers, content = split_message(b"X\r\n" + chunk)
            name = filename = None
            for k, v in headers:
                if k.lower() == "content-disposition":
                    _, params = parse_content_type(v)
                    name = params.get("name")
                    filename = params.get("filename")
            out.append(BodyPart(name, filename, headers, Body(content, headers)))
        return out

    def to_dict(self) -> dict[str, Any]:
        """The record's ``body`` object (see docs/internals.md)."""
        framing = self._framing
        if not self.wire:  # the common case of a GET: skip the decoding machinery
            return {
                "size": 0,
                "content_type": framing.media,
                "encoding": framing.encoding,
                "kind": "empty",
                "truncated": framing.chunked or bool(framing.declared_length),
                "text": "",
                "json": None,
                "base64": None,
            }
        data, truncated, _ = self._decoded
        text = self.text
        kind = self.kind
        return {
            "size": len(data),
            "content_type": framing.media,
            "encoding": framing.encoding,
            "kind": kind,
            "truncated": truncated,
            "text": text,
            "json": self._json if kind == "json" else None,
            "base64": base64.b64encode(data).decode("ascii") if text is None and data else None,
        }

    def __repr__(self) -> str:
        return f"<Body {self.kind} {self.size} bytes>"
