"""Importing captures into the archive: HAR files as browsers and tools write them, and
ngrok-inspect's own ``export`` formats (json, ndjson, raw).

Each entry becomes an agent-shaped record (the JSON the agent serves, so every reading
command treats it like a recorded capture) with a raw request and response synthesized
from the entry's fields: headers in their order, the body re-framed (``Content-Length``,
chunked) and re-compressed when ``Content-Encoding`` says so, since HAR keeps bodies
decoded. Imported entries get ids of their own: KSUIDs whose time is the entry's start and
whose payload holds the entry's place in the file and a hash of it, so a second import
of the same file stores nothing new.

The file is read entry by entry (:mod:`.reading`) and its rows are staged in batches
(:meth:`ArchiveWriter.add_rows`), so memory holds one batch and the largest entry, never
the whole file. Entries that cannot be imported are skipped with a reason (:class:`Skipped`);
with ``strict`` any such entry refuses the whole file. The staged rows enter the archive in
one short transaction at the end: the archive never holds half a file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import math
import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode, urlsplit

from ngrok_inspect.archive.reading import ImportFileError, Unreadable, read_document
from ngrok_inspect.archive.store import ArchiveWriter, row_for
from ngrok_inspect.bodies import compress, decompress
from ngrok_inspect.errors import ConditionNotMetError
from ngrok_inspect.models import CapturedRequest, parse_rfc3339

__all__ = [
    "BATCH_BYTES",
    "BATCH_ENTRIES",
    "FORMATS",
    "ImportFileError",
    "ImportRefusedError",
    "ImportResult",
    "Skipped",
    "import_file",
]

FORMATS = ("har", "json", "ndjson", "raw")
#: How many reasons an error message or summary shows.
FIRST_REASONS = 3
#: How many skipped entries an ImportResult lists (all are counted): a hostile file of
#: millions of broken entries must not make a list of millions.
KEPT_REASONS = 1000
#: A batch is stored when it holds this many captures or this many raw bytes.
BATCH_ENTRIES = 200
BATCH_BYTES = 1 << 20


class ImportRefusedError(ConditionNotMetError):
    """``--strict`` and some entries are broken: nothing was stored (exit 6)."""


@dataclass(frozen=True)
class Skipped:
    """An entry that was not imported: its position in the file (1-based) and why."""

    index: int
    reason: str

    def __str__(self) -> str:
        return f"entry {self.index}: {self.reason}"


@dataclass
class ImportResult:
    """What an import did. ``entries`` = stored + duplicates + no_response + skipped_count;
    ``skipped`` lists the first :data:`KEPT_REASONS` of the skipped entries."""

    path: str
    format: str
    entries: int = 0
    stored: int = 0
    duplicates: int = 0  # already in the archive (the same file imported before)
    no_response: int = 0  # aborted or pending entries (HAR status 0): not captures
    skipped: list[Skipped] = field(default_factory=list)
    skipped_count: int = 0
    converted: int = 0  # entries that became captures (stored or duplicates)

    def skip(self, index: int, reason: str) -> None:
        """Count a skipped entry (and keep its reason if fewer than KEPT_REASONS are)."""
        self.skipped_count += 1
        if len(self.skipped) < KEPT_REASONS:
            self.skipped.append(Skipped(index, reason))

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "format": self.format,
            "entries": self.entries,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "no_response": self.no_response,
            "skipped": [{"entry": s.index, "reason": s.reason} for s in self.skipped],
            "skipped_count": self.skipped_count,
        }


class _Broken(ValueError):
    """One entry cannot be imported (the message is the reason)."""


# --- synthesizing wire messages ---------------------------------------------------------

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_TARGET_SAFE = "".join(c for c in string.printable if c not in string.whitespace)
_NO_BODY_STATUS = {204, 304}


def _header_bytes(text: str) -> bytes:
    # the parser reads header bytes as latin-1: what fits round-trips exactly
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _clean_headers(pairs: Iterable[tuple[str, str]], side: str) -> list[tuple[str, str]]:
    """Header lines for the wire: a value holding newlines (Chrome joins repeated headers
    with '\\n') becomes one line per value; a name that is not a token breaks the entry."""
    out: list[tuple[str, str]] = []
    for name, value in pairs:
        if not _TOKEN.match(name):
            raise _Broken(f"{side} header name {name[:40]!r} is not a token")
        for part in value.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
            if "\x00" in part:
                raise _Broken(f"{side} header {name!r} holds a NUL byte")
            out.append((name, part.strip(" \t")))
    return out


def _get(headers: list[tuple[str, str]], name: str) -> str | None:
    lname = name.lower()
    return next((v for k, v in headers if k.lower() == lname), None)


def _set(headers: list[tuple[str, str]], name: str, value: str) -> list[tuple[str, str]]:
    lname = name.lower()
    if any(k.lower() == lname for k, _ in headers):
        return [(k, value if k.lower() == lname else v) for k, v in headers]
    return [*headers, (name, value)]


def _encode_body(
    data: bytes, headers: list[tuple[str, str]], wire_size: int | None
) -> tuple[bytes, list[tuple[str, str]]]:
    """The body as sent: ``data`` (decoded, as HAR keeps it) compressed again per
    Content-Encoding. A level that reproduces the recorded wire size is preferred, so the
    synthesized message says what the original did. Bytes that already decode are kept:
    some tools store the encoded body."""
    coding = _get(headers, "Content-Encoding")
    if not data or not coding or coding.strip().lower() in ("", "identity"):
        return data, headers
    if decompress(data, coding)[1] is None:
        return data, headers  # already encoded
    first = compress(data, coding)
    if first is None:  # a coding we cannot produce (zstd, "UTF-8"): send the body as is
        return data, headers
    if wire_size is not None and len(first) != wire_size and "gzip" in coding.lower():
        import gzip

        for level in (9, 1, 2, 3, 4, 5, 7, 8):
            candidate = gzip.compress(data, compresslevel=level, mtime=0)
            if len(candidate) == wire_size:
                return candidate, headers
    return first, headers


def _frame(
    start_line: str,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    body_known: bool,
    keep_length: bool,
) -> tuple[bytes, list[tuple[str, str]]]:
    """A whole HTTP/1.1 message and its final header lines. ``Content-Length`` is made
    true to the body unless ``keep_length`` (HEAD answers, 204/304) or the body is not in
    the file; a chunked message gets its body as one chunk."""
    te = (_get(headers, "Transfer-Encoding") or "").lower()
    if "chunked" in te:
        payload = (b"%x\r\n" % len(body) + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
    else:
        payload = body
        declared = _get(headers, "Content-Length")
        if body_known and not keep_length:
            if declared is not None and declared.strip() != str(len(body)):
                headers = _set(headers, "Content-Length", str(len(body)))
            elif declared is None and body:
                headers = [*headers, ("Content-Length", str(len(body)))]
    head = start_line.encode("latin-1", "replace") + b"\r\n"
    head += b"".join(_header_bytes(k) + b": " + _header_bytes(v) + b"\r\n" for k, v in headers)
    return head + b"\r\n" + payload, headers


def _headers_map(headers: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in headers:
        out.setdefault(k, []).append(v)
    return out


def _proto(value: Any) -> str:
    """The wire protocol name: ``h2``/``http/2.0``/``HTTP/2`` -> ``HTTP/2.0`` and so on."""
    v = str(value or "").strip().upper()
    if v in ("H2", "HTTP/2", "HTTP/2.0", "H2C"):
        return "HTTP/2.0"
    if v in ("H3", "HTTP/3", "HTTP/3.0") or v.startswith("H3-"):
        return "HTTP/3.0"
    if re.fullmatch(r"HTTP/\d\.\d", v):
        return v
    return "HTTP/1.1"  # '', 'unknown', Safari's blanks: what the agent would have seen


# --- HAR entries -------------------------------------------------------------------------


def _har_headers(value: Any, side: str) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Broken(f"{side}.headers is not a list")
    out: list[tuple[str, str]] = []
    for n, item in enumerate(value):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise _Broken(f"{side}.headers[{n}] is not a {{name, value}} object")
        val = item.get("value")
        out.append((item["name"], "" if val is None else str(val)))
    return out


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=False) if text else b""
    except (binascii.Error, ValueError):
        raise _Broken(f"{what} is not valid base64") from None


def _har_text(text: Any, encoding: Any, mime: str, what: str) -> bytes:
    if not isinstance(text, str):
        raise _Broken(f"{what}.text is not a string")
    if isinstance(encoding, str) and encoding.lower() == "base64":
        return _b64(text, f"{what}.text")
    match = re.search(r"charset=\"?([\w.:-]+)", mime, re.IGNORECASE)
    if match:
        try:
            return text.encode(match.group(1))
        except (LookupError, UnicodeEncodeError):
            pass
    return text.encode("utf-8")


def _post_body(post: Any, headers: list[tuple[str, str]]) -> tuple[bytes, bool]:
    """The request body of ``postData`` and whether it is known."""
    if post is None:
        return b"", True
    if not isinstance(post, Mapping):
        raise _Broken("request.postData is not an object")
    mime = str(post.get("mimeType") or _get(headers, "Content-Type") or "")
    text = post.get("text")
    encoding = post.get("_encoding", post.get("encoding"))
    if isinstance(text, str) and (text or not post.get("params")):
        return _har_text(text, encoding, mime, "request.postData"), True
    params = post.get("params")
    if isinstance(params, list) and "x-www-form-urlencoded" in mime.lower():
        pairs = [
            (str(p.get("name", "")), str(p.get("value", "")))
            for p in params
            if isinstance(p, Mapping)
        ]
        return urlencode(pairs).encode("ascii"), True
    return b"", not params  # multipart params without text: the bytes are not in the file


def _request_target(url: str) -> tuple[str, str, str]:
    """(target, authority, scheme) of an absolute URL; _Broken for anything else."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https", "ws", "wss") or not parts.netloc:
        raise _Broken(f"request.url {url[:60]!r} is not an absolute http(s) URL")
    target = parts.path or "/"
    if parts.query or url.split("#", 1)[0].endswith("?"):
        target += "?" + parts.query
    authority = parts.netloc.rpartition("@")[2]  # never user:password into Host
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme.lower(), parts.scheme.lower())
    return quote(target, safe=_TARGET_SAFE), authority, scheme


#: The longest exchange an entry may claim (ms): about 31 years; more is not a duration.
MAX_DURATION_MS = 1e12


def _number(value: Any, what: str, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Broken(f"{what} is not a number")
    number = float(value)
    if not math.isfinite(number) or number > MAX_DURATION_MS:  # JSON allows NaN, 1e999
        raise _Broken(f"{what} {value!r} is out of range")
    return number


def _har_entry(e: Any) -> dict[str, Any] | None:
    """The agent-shaped record of a HAR entry (no id yet); None: no response (status 0)."""
    if not isinstance(e, Mapping):
        raise _Broken(f"is a {type(e).__name__}, not an object")
    req = e.get("request")
    if not isinstance(req, Mapping):
        raise _Broken("has no request object")
    method = req.get("method")
    if not isinstance(method, str) or not _TOKEN.match(method):
        raise _Broken("request.method is missing or not a token")
    url = req.get("url")
    if not isinstance(url, str):
        raise _Broken("request.url is missing")
    target, authority, scheme = _request_target(url)
    started = e.get("startedDateTime")
    if not isinstance(started, str):
        raise _Broken("startedDateTime is missing")
    try:
        parse_rfc3339(started)
    except ValueError:
        raise _Broken(f"startedDateTime {started[:40]!r} is not an ISO 8601 time") from None
    time_ms = max(_number(e.get("time"), "time", 0.0), 0.0)

    pseudo = {
        k.lower(): v for k, v in _har_headers(req.get("headers"), "request") if k.startswith(":")
    }
    headers = _clean_headers(
        ((k, v) for k, v in _har_headers(req.get("headers"), "request") if not k.startswith(":")),
        "request",
    )
    if _get(headers, "Host") is None:  # HTTP/2 carries it as :authority; HTTP/1.1 needs it
        headers = [("Host", pseudo.get(":authority") or authority), *headers]
    req_body, req_known = _post_body(req.get("postData"), headers)
    wire_size = req.get("bodySize")
    req_body, headers = _encode_body(
        req_body, headers, wire_size if isinstance(wire_size, int) and wire_size > 0 else None
    )
    proto = _proto(req.get("httpVersion"))
    request_raw, headers = _frame(
        f"{method} {target} {proto}", headers, req_body, body_known=req_known, keep_length=False
    )
    record: dict[str, Any] = {
        "tunnel_name": str(e.get("_tunnel") or authority),
        "remote_addr": str(e.get("_remoteAddr") or ""),
        "origin": f"{scheme}://{authority}",  # the URL's scheme is in no header
        "start": started,
        "duration": round(time_ms * 1_000_000),
        "request": {
            "method": method,
            "proto": proto,
            "headers": _headers_map(headers),
            "uri": target,
            "raw": base64.b64encode(request_raw).decode("ascii"),
        },
    }
    resp = e.get("response")
    if not isinstance(resp, Mapping):
        raise _Broken("has no response object")
    status = resp.get("status")
    if isinstance(status, bool) or not isinstance(status, int) or not 0 <= status <= 999:
        raise _Broken("response.status is not an HTTP status code")
    if status == 0:
        return None
    rheaders = _clean_headers(
        ((k, v) for k, v in _har_headers(resp.get("headers"), "response") if not k.startswith(":")),
        "response",
    )
    content = resp.get("content")
    if content is None:
        content = {}
    if not isinstance(content, Mapping):
        raise _Broken("response.content is not an object")
    text = content.get("text")
    mime = str(content.get("mimeType") or _get(rheaders, "Content-Type") or "")
    body = b"" if text is None else _har_text(text, content.get("encoding"), mime, "content")
    size = content.get("size")
    # no text and size 0 is an empty body, unless the headers declare one: then the body
    # was left out of the file (our own export writes a truncated body that way)
    declared = (_get(rheaders, "Content-Length") or "0").strip()
    known = text is not None or (size == 0 and declared in ("", "0"))
    wire: int | None = None
    comp = content.get("compression")
    if isinstance(size, int) and isinstance(comp, int) and size - comp > 0:
        wire = size - comp
    elif isinstance(resp.get("bodySize"), int) and resp["bodySize"] > 0:
        wire = resp["bodySize"]
    body, rheaders = _encode_body(body, rheaders, wire)
    rproto = _proto(resp.get("httpVersion"))
    reason = str(resp.get("statusText") or "").replace("\r", " ").replace("\n", " ").strip()
    status_text = f"{status} {reason}".strip()
    record["response"] = _response(method, status, status_text, rproto, rheaders, body, known)
    return record


def _response(
    method: str,
    status: int,
    status_text: str,
    proto: str,
    headers: list[tuple[str, str]],
    body: bytes,
    known: bool,
) -> dict[str, Any]:
    """The record's ``response`` with a raw message framed from its parts (HAR and records
    alike): no body length kept for HEAD, 1xx, 204 and 304."""
    keep = method.upper() == "HEAD" or status in _NO_BODY_STATUS or status < 200
    raw, headers = _frame(
        f"{proto} {status_text}", headers, body, body_known=known, keep_length=keep
    )
    return {
        "status": status_text,
        "status_code": status,
        "proto": proto,
        "headers": _headers_map(headers),
        "raw": base64.b64encode(raw).decode("ascii"),
    }


# --- this tool's own exports ---------------------------------------------------------------


def _record_body(body: Any, what: str) -> tuple[bytes, bool]:
    if body is None:
        return b"", True
    if not isinstance(body, Mapping):
        raise _Broken(f"{what}.body is not an object")
    if isinstance(body.get("base64"), str):
        return _b64(body["base64"], f"{what}.body.base64"), True
    if isinstance(body.get("text"), str):
        return body["text"].encode("utf-8"), True
    return b"", not body.get("size")


def _record_headers(value: Any, what: str) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise _Broken(f"{what}.headers is not an object of lists")
    out = []
    for k, vs in value.items():
        for v in vs if isinstance(vs, list) else [vs]:
            out.append((str(k), str(v)))
    return _clean_headers(out, what)


def _json_record(e: Any) -> dict[str, Any] | None:
    """The agent-shaped record of a ``--json`` record (export json/ndjson, show --json)."""
    if not isinstance(e, Mapping):
        raise _Broken(f"is a {type(e).__name__}, not an object")
    req = e.get("request")
    method, uri, start = e.get("method"), e.get("uri"), e.get("start")
    if not isinstance(req, Mapping) or not isinstance(method, str) or not _TOKEN.match(method):
        raise _Broken("is not a request record (no request or method)")
    if not isinstance(uri, str) or not uri.startswith("/"):
        raise _Broken("uri is missing or not a path")
    if not isinstance(start, str):
        raise _Broken("start is missing")
    try:
        parse_rfc3339(start)
    except ValueError:
        raise _Broken(f"start {start[:40]!r} is not an ISO 8601 time") from None
    duration = max(_number(e.get("duration_ms"), "duration_ms", 0.0), 0.0)
    proto = _proto(req.get("proto"))
    headers = _record_headers(req.get("headers"), "request")
    body, known = _record_body(req.get("body"), "request")
    body, headers = _encode_body(body, headers, None)
    target = quote(uri, safe=_TARGET_SAFE)
    request_raw, headers = _frame(
        f"{method} {target} {proto}", headers, body, body_known=known, keep_length=False
    )
    record: dict[str, Any] = {
        "tunnel_name": str(e.get("tunnel") or ""),
        "remote_addr": str(e.get("remote_addr") or ""),
        "start": start,
        "duration": round(duration * 1_000_000),
        "request": {
            "method": method,
            "proto": proto,
            "headers": _headers_map(headers),
            "uri": target,
            "raw": base64.b64encode(request_raw).decode("ascii"),
        },
    }
    resp = e.get("response")
    if resp is None:
        return None
    if not isinstance(resp, Mapping):
        raise _Broken("response is not an object")
    status = resp.get("status_code")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 999:
        raise _Broken("response.status_code is not an HTTP status code")
    rheaders = _record_headers(resp.get("headers"), "response")
    rbody, rknown = _record_body(resp.get("body"), "response")
    rbody, rheaders = _encode_body(rbody, rheaders, None)
    rproto = _proto(resp.get("proto"))
    status_text = str(resp.get("status") or status).replace("\r", " ").replace("\n", " ")
    record["response"] = _response(method, status, status_text, rproto, rheaders, rbody, rknown)
    return record


def _raw_object(e: Any) -> dict[str, Any] | None:
    """An agent object (``export --format raw``): taken as served, raw bytes and all."""
    if not isinstance(e, Mapping):
        raise _Broken(f"is a {type(e).__name__}, not an object")
    data = {k: v for k, v in e.items() if k not in ("id", "uri")}
    data["id"] = "airt_check"
    try:
        CapturedRequest.from_api(data)
    except ValueError as err:
        raise _Broken(str(err).replace(" 'airt_check'", "")) from None
    for side in ("request", "response"):
        msg = data.get(side)
        if isinstance(msg, Mapping) and not isinstance(msg.get("raw"), str):
            raise _Broken(f"{side}.raw is missing (an export whose raw bytes were unknown)")
        if isinstance(msg, Mapping):
            _b64(msg["raw"], f"{side}.raw")
    del data["id"]
    dur = data.get("duration")
    if dur is not None and not 0 <= dur <= MAX_DURATION_MS * 1_000_000:
        raise _Broken(f"duration {dur!r} is out of range")
    return data if isinstance(data.get("response"), Mapping) else None


_CONVERTERS: dict[str, Callable[[Any], dict[str, Any] | None]] = {
    "har": _har_entry,
    "json": _json_record,
    "ndjson": _json_record,
    "raw": _raw_object,
}


# --- ids ---------------------------------------------------------------------------------

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_KSUID_EPOCH = 1_400_000_000


def _ksuid(when: datetime, digest: bytes) -> str:
    """``airt_`` + a KSUID: 4 bytes of seconds since the KSUID epoch, 16 of ``digest``."""
    ts = int(when.astimezone(timezone.utc).timestamp()) - _KSUID_EPOCH
    value = (min(max(ts, 0), 2**32 - 1) << 128) | int.from_bytes(digest[:16], "big")
    out = []
    for _ in range(27):
        value, rem = divmod(value, 62)
        out.append(_ALPHABET[rem])
    return "airt_" + "".join(reversed(out))


def _with_id(record: dict[str, Any], entry: Any, seq: int) -> CapturedRequest:
    """The capture with its id: the KSUID second is the entry's start; the payload begins
    with ``seq``, the entry's place in the file's time order, so captures of one second
    list in that order as the agent's do, and ends with a hash of the entry, so the same
    file imported again yields the same ids."""
    canonical = json.dumps(entry, sort_keys=True, ensure_ascii=False, default=str).encode()
    digest = seq.to_bytes(4, "big") + hashlib.sha256(canonical).digest()[:12]
    rid = _ksuid(parse_rfc3339(record["start"]), digest)
    return CapturedRequest({"uri": f"/api/requests/http/{rid}", "id": rid, **record})


# --- the import ------------------------------------------------------------------------------


def _batches(
    fmt: str,
    entries: Iterable[Any],
    result: ImportResult,
    strict: bool,
    source: str,
    progress: Callable[[int], None] | None = None,
) -> Iterator[list[tuple[Any, ...]]]:
    """The archive rows of ``entries`` in batches, counting into ``result`` as it goes
    (a capture becomes its row at once: the row is its raw bytes, the model more). Once
    ``strict`` has met a broken entry nothing more is yielded, and at the end it raises
    :class:`ImportRefusedError`; so does an import whose every entry is broken
    (:class:`ImportFileError`): raised while the rows are staged, they store nothing."""
    converter = _CONVERTERS[fmt]
    newest_first = fmt != "har"  # exports list newest first, HAR oldest first
    batch: list[tuple[Any, ...]] = []
    size = 0
    for n, entry in enumerate(entries, 1):
        result.entries = n
        # the KSUID payload's place in time order: counting down for newest-first files
        seq = max(2**32 - n, 0) if newest_first else n - 1
        try:
            if isinstance(entry, Unreadable):
                raise _Broken(entry.reason)
            record = converter(entry)
            if record is None:
                result.no_response += 1
                continue
            req = _with_id(record, entry, seq)
        except _Broken as e:
            result.skip(n, str(e))
            continue
        except RecursionError:
            result.skip(n, "nested too deeply")
            continue
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as e:  # hostile
            result.skip(n, f"malformed ({type(e).__name__}: {str(e)[:60]})")
            continue
        result.converted += 1
        if strict and result.skipped_count:
            continue  # refused in the end: converting on only to count
        row = row_for(req, source)
        batch.append(row)
        size += len(row[11]) + len(row[12] or b"") + len(row[13])  # raw bytes and record
        if len(batch) >= BATCH_ENTRIES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
            if progress:
                progress(n)
    skipped = result.skipped_count
    first = "; ".join(str(s) for s in result.skipped[:FIRST_REASONS])
    if skipped and strict:
        raise ImportRefusedError(
            f"{skipped} of {result.entries} entries of {result.path} cannot be imported ({first})",
            hint="Nothing was stored; drop --strict to import the others",
        )
    if skipped and not result.converted and not result.no_response:
        raise ImportFileError(
            f"no entry of {result.path} can be imported ({first})",
            hint="Is it a HAR file or an 'ngrok-inspect export'?",
        )
    if batch:
        yield batch


def import_file(
    path: str | Path,
    db: str | Path,
    *,
    strict: bool = False,
    data: bytes | BinaryIO | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> ImportResult:
    """Import the HAR file or export at ``path`` (or read from ``data``, bytes or a binary
    stream such as stdin) into the archive ``db``, entry by entry, all or nothing.

    Raises :class:`ImportFileError` (exit 2) for a file that is none of the formats or
    whose every entry is broken, :class:`ImportRefusedError` (exit 6) with ``strict`` when
    any entry is broken, :class:`~ngrok_inspect.archive.ArchiveError` for the database;
    in every case nothing is stored. The archive is created only when there is something
    to store. ``progress(entries, offset)`` is called after each full batch: the entries
    read so far and how far into the file that is (bytes; None for a pipe).
    """
    name = str(path)
    if data is None:
        try:
            stream: BinaryIO = Path(path).open("rb")  # noqa: SIM115 (closed below)
        except OSError as e:
            raise ImportFileError(
                f"cannot read {name}: {e.strerror or e}", hint="Check the path"
            ) from None
    else:
        stream = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        fmt, entries = read_document(stream, name)
        result = ImportResult(name, fmt)
        source = f"{fmt}:{Path(name).resolve()}" if name != "-" else f"{fmt}:stdin"

        def report(n: int) -> None:
            if progress:
                try:
                    offset: int | None = stream.tell()
                except (OSError, ValueError):  # a pipe
                    offset = None
                progress(n, offset)

        batches = _batches(fmt, entries, result, strict, source, report)
        first = next(batches, None)  # opens no archive for a file with nothing to store
        if first is not None:
            with ArchiveWriter(db) as writer:
                result.stored = writer.add_rows(chain([first], batches))
    finally:
        if data is None:
            stream.close()
    result.duplicates = result.converted - result.stored
    return result
