"""Export captured requests: json, ndjson, raw, HAR 1.2 and curl; redaction; atomic files.

Everything here is pure except :func:`write_atomic`. Redaction happens first, on the
agent's own objects (header maps *and* the base64 ``raw`` wire bytes), and every format is
then built from the redacted objects, so no format can leak what another hides.

Order: ``json``, ``ndjson`` and ``raw`` keep the agent's order (newest first, like
``requests list --json``); ``har`` and ``curl`` are chronological (oldest first), the way
browsers write HAR files and the order in which a replay script should run.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import errno
import json
import os
import re
import shlex
import stat
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ngrok_inspect.bodies import dechunk
from ngrok_inspect.errors import OutputError, UsageError
from ngrok_inspect.models import CapturedRequest, HttpMessage, HttpRequest, HttpResponse

__all__ = [
    "FORMATS",
    "REDACTED",
    "SENSITIVE_HEADERS",
    "is_sensitive_header",
    "redact_agent_object",
    "redact_headers",
    "redact_raw_message",
    "redact_record",
    "redact_requests",
    "render_curl",
    "render_export",
    "render_har",
    "write_atomic",
]

FORMATS = ("json", "ndjson", "har", "curl", "raw")
"""The export formats, ``json`` first (the default)."""

REDACTED = "[REDACTED]"
"""What a redacted header value is replaced with."""

SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)
"""Header names (lower-case) whose values are redacted; also any ``*-Signature`` header.

``*-Signature`` includes a digest-size suffix, as GitHub's ``X-Hub-Signature-256``."""
_SIGNATURE = re.compile(r"-signature(-\d+)?$")


# --------------------------------------------------------------------------- redaction


def is_sensitive_header(name: str) -> bool:
    """True for a header whose value is a secret (case-insensitive)."""
    lname = name.strip().lower()
    return lname in SENSITIVE_HEADERS or _SIGNATURE.search(lname) is not None


def redact_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an agent header map (name -> list of values) with secret values replaced."""
    out: dict[str, Any] = {}
    for name, values in headers.items():
        if not is_sensitive_header(name):
            out[name] = copy.deepcopy(values)
        elif isinstance(values, list):
            out[name] = [REDACTED for _ in values]
        else:
            out[name] = REDACTED
    return out


def redact_raw_message(raw: bytes) -> bytes:
    """The wire bytes of a message with secret header values replaced.

    Only the header block changes (line endings, header order, spelling and the body are
    kept byte for byte), so ``Content-Length`` stays right.
    """
    sep = raw.find(b"\r\n\r\n")
    if sep < 0:
        sep = raw.find(b"\n\n")
    head, rest = (raw, b"") if sep < 0 else (raw[:sep], raw[sep:])
    lines = head.split(b"\n")
    out: list[bytes] = lines[:1]
    changed = False
    redacting = False  # inside a folded (continued) secret header: drop the continuation
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            if redacting:
                changed = True
            else:
                out.append(line)
            continue
        name, colon, _ = line.partition(b":")
        redacting = bool(colon) and is_sensitive_header(name.decode("latin-1"))
        if redacting:
            cr = b"\r" if line.endswith(b"\r") else b""
            line = name + b": " + REDACTED.encode() + cr
            changed = True
        out.append(line)
    return b"\n".join(out) + rest if changed else raw


def _redact_message(msg: Any) -> Any:
    if not isinstance(msg, Mapping):
        return msg
    out = dict(msg)
    headers = msg.get("headers")
    if isinstance(headers, Mapping):
        out["headers"] = redact_headers(headers)
    raw = msg.get("raw")
    if isinstance(raw, str) and raw:
        try:
            decoded = base64.b64decode(raw, validate=False)
        except ValueError:
            out["raw"] = ""
        else:
            new = redact_raw_message(decoded)
            if new != decoded:
                out["raw"] = base64.b64encode(new).decode("ascii")
    return out


def redact_agent_object(data: Mapping[str, Any]) -> dict[str, Any]:
    """A redacted copy of one captured request as the agent serves it (headers and ``raw``)."""
    out = dict(data)
    for side in ("request", "response"):
        if side in out:
            out[side] = _redact_message(out[side])
    return out


def redact_requests(reqs: Iterable[CapturedRequest]) -> list[CapturedRequest]:
    """Redacted copies of captured requests (new models built from redacted agent objects)."""
    return [CapturedRequest(redact_agent_object(r.data)) for r in reqs]


def redact_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a JSON record (``CapturedRequest.to_dict()``) with secret headers replaced."""
    out = dict(record)
    for side in ("request", "response"):
        msg = out.get(side)
        if isinstance(msg, Mapping):
            msg = dict(msg)
            if isinstance(msg.get("headers"), Mapping):
                msg["headers"] = redact_headers(msg["headers"])
            out[side] = msg
    return out


# --------------------------------------------------------------------------- helpers


def _values(msg: HttpMessage, name: str) -> list[str]:
    """Values of a header as on the wire (the bytes every format reproduces)."""
    lname = name.lower()
    return [v for k, v in msg.header_lines if k.lower() == lname]


def _header(msg: HttpMessage, name: str) -> str | None:
    values = _values(msg, name)
    return values[0] if values else None


def _payload(msg: HttpMessage) -> bytes:
    """The body as sent: de-chunked but still content-encoded (what Content-Length counts)."""
    wire = msg.body.wire
    te = _header(msg, "Transfer-Encoding") or ""
    if "chunked" in te.lower():
        return dechunk(wire)[0]
    return wire


def _origin(req: CapturedRequest, public_urls: Mapping[str, str] | None) -> str:
    url = (public_urls or {}).get(req.tunnel_name)
    if url:
        return url.rstrip("/")
    host = _header(req.request, "Host") or _header(req.request, ":authority") or "localhost"
    proto = (_header(req.request, "X-Forwarded-Proto") or "http").split(",")[0].strip().lower()
    return f"{proto if proto in ('http', 'https') else 'http'}://{host}"


def full_url(req: CapturedRequest, public_urls: Mapping[str, str] | None = None) -> str:
    """The request's absolute URL: the tunnel's public URL (else the Host header) + uri."""
    uri = req.request.uri
    if uri.startswith(("http://", "https://")):
        return uri
    return _origin(req, public_urls) + (uri if uri.startswith("/") else "/" + uri)


def _chronological(reqs: Iterable[CapturedRequest]) -> list[CapturedRequest]:
    # the agent lists newest first; reversing first keeps same-second entries in order
    oldest_first = list(reqs)
    oldest_first.reverse()
    oldest_first.sort(key=lambda r: r.start)  # stable
    return oldest_first


# --------------------------------------------------------------------------- HAR 1.2


def _har_headers(msg: HttpMessage) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in msg.header_lines]


def _headers_size(msg: HttpMessage) -> int:
    raw = msg.raw
    if not raw:
        return -1
    sep = raw.find(b"\r\n\r\n")
    return sep + 4 if sep >= 0 else len(raw)


def _request_cookies(req: HttpRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for value in _values(req, "Cookie"):
        for pair in value.split(";"):
            name, eq, val = pair.strip().partition("=")
            if eq and name:
                out.append({"name": name, "value": val})
    return out


def _response_cookies(resp: HttpResponse) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for value in _values(resp, "Set-Cookie"):
        first, *attrs = value.split(";")
        name, eq, val = first.strip().partition("=")
        if not eq or not name:
            continue
        cookie: dict[str, Any] = {"name": name, "value": val}
        for attr in attrs:
            key, _, aval = attr.strip().partition("=")
            lkey = key.lower()
            if lkey in ("path", "domain"):
                cookie[lkey] = aval
            elif lkey == "expires":
                cookie["expires"] = aval
            elif lkey == "httponly":
                cookie["httpOnly"] = True
            elif lkey == "secure":
                cookie["secure"] = True
        out.append(cookie)
    return out


def _query_string(req: HttpRequest) -> list[dict[str, str]]:
    from urllib.parse import parse_qsl

    return [{"name": k, "value": v} for k, v in parse_qsl(req.query, keep_blank_values=True)]


def _post_data(req: HttpRequest) -> dict[str, Any] | None:
    body = req.body
    if not body.wire:
        return None
    mime = _header(req, "Content-Type") or ""
    post: dict[str, Any] = {"mimeType": mime, "params": [], "text": ""}
    if body.form is not None:
        post["params"] = [{"name": k, "value": v} for k, v in body.form]
    elif body.parts is not None:
        for part in body.parts:
            param: dict[str, Any] = {"name": part.name or ""}
            if part.filename is not None:
                param["fileName"] = part.filename
            ctype = next((v for k, v in part.headers if k.lower() == "content-type"), None)
            if ctype:
                param["contentType"] = ctype
            if part.body.text is not None:
                param["value"] = part.body.text
            post["params"].append(param)
    text = body.text
    if text is not None:
        post["text"] = text
    else:  # HAR 1.2 postData has no encoding field: custom "_encoding" says how to read text
        post["text"] = base64.b64encode(body.data).decode("ascii")
        post["_encoding"] = "base64"
    return post


def _content(resp: HttpResponse) -> dict[str, Any]:
    body = resp.body
    data = body.data
    content: dict[str, Any] = {
        "size": len(data),
        "mimeType": _header(resp, "Content-Type") or "x-unknown",
    }
    if body.encoding and body.decode_error is None:
        content["compression"] = len(data) - len(_payload(resp))
    if data:
        text = body.text
        if text is not None:
            content["text"] = text
        else:
            content["text"] = base64.b64encode(data).decode("ascii")
            content["encoding"] = "base64"
    notes = []
    if body.truncated:
        notes.append("body truncated by the agent's capture limit")
    if body.decode_error:
        notes.append(f"body left encoded: {body.decode_error}")
    if notes:
        content["comment"] = "; ".join(notes)
    return content


def _har_entry(req: CapturedRequest, public_urls: Mapping[str, str] | None) -> dict[str, Any]:
    hreq = req.request
    request: dict[str, Any] = {
        "method": hreq.method,
        "url": full_url(req, public_urls),
        "httpVersion": hreq.proto or "HTTP/1.1",
        "cookies": _request_cookies(hreq),
        "headers": _har_headers(hreq),
        "queryString": _query_string(hreq),
        "headersSize": _headers_size(hreq),
        "bodySize": len(_payload(hreq)),
    }
    post = _post_data(hreq)
    if post is not None:
        request["postData"] = post
    resp = req.response
    if resp is None:  # pending: HAR needs a response; status 0 as browsers write aborted ones
        response: dict[str, Any] = {
            "status": 0,
            "statusText": "",
            "httpVersion": hreq.proto or "HTTP/1.1",
            "cookies": [],
            "headers": [],
            "content": {"size": 0, "mimeType": "x-unknown"},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
            "comment": "no response captured (pending)",
        }
    else:
        response = {
            "status": resp.status_code,
            "statusText": resp.reason,
            "httpVersion": resp.proto or "HTTP/1.1",
            "cookies": _response_cookies(resp),
            "headers": _har_headers(resp),
            "content": _content(resp),
            "redirectURL": _header(resp, "Location") or "",
            "headersSize": _headers_size(resp),
            "bodySize": len(_payload(resp)),
        }
    time_ms = round(req.duration_ms, 3)
    return {
        "startedDateTime": req.start.isoformat(timespec="milliseconds"),
        "time": time_ms,
        "request": request,
        "response": response,
        "cache": {},
        "timings": {
            "blocked": -1,
            "dns": -1,
            "connect": -1,
            "send": 0,
            "wait": time_ms,
            "receive": 0,
            "ssl": -1,
        },
        "comment": req.id,
        "_id": req.id,
        "_tunnel": req.tunnel_name,
        "_remoteAddr": req.remote_addr,
    }


def render_har(
    reqs: Iterable[CapturedRequest], *, public_urls: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A HAR 1.2 document (a dict) of ``reqs``, oldest first. Does not redact."""
    from ngrok_inspect import __version__

    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "ngrok-inspect", "version": __version__},
            "pages": [],
            "entries": [_har_entry(r, public_urls) for r in _chronological(reqs)],
        }
    }


# --------------------------------------------------------------------------- curl

# curl computes these itself, or they describe the connection rather than the request
_CURL_SKIP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive",
              "proxy-connection", "te", "upgrade", "expect"}  # fmt: skip
# curl adds these when not given: remove them when the original had none
_CURL_DEFAULTS = ("User-Agent", "Accept")
# larger bodies go through stdin: one argv string may not exceed 128 KiB on Linux
_INLINE_MAX = 16 * 1024


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _curl_command(req: CapturedRequest, public_urls: Mapping[str, str] | None) -> str:
    hreq = req.request
    body = _payload(hreq)
    method = hreq.method.upper()
    args: list[str] = ["curl", "--silent", "--show-error", "--globoff", "--path-as-is"]
    if method == "HEAD":
        args.append("--head")
    elif not (method == "GET" and not body) and not (method == "POST" and body):
        args += ["--request", method]
    names = {k.lower() for k, _ in hreq.header_lines}
    for name, value in hreq.header_lines:
        if name.lower() in _CURL_SKIP:
            continue
        args += ["--header", f"{name}: {value}" if value else f"{name};"]
    for name in _CURL_DEFAULTS:
        if name.lower() not in names:
            args += ["--header", f"{name}:"]
    heredoc = ""
    if body:
        if "content-type" not in names:
            args += ["--header", "Content-Type:"]
        if len(body) <= _INLINE_MAX and _is_text(body):
            args += ["--data-raw", body.decode("utf-8")]
        else:
            args += ["--data-binary", "@-"]
            encoded = base64.encodebytes(body).decode("ascii")
            heredoc = f"{encoded}NGROK_INSPECT_BODY\n"
    args.append(full_url(req, public_urls))
    status = "pending" if req.status_code is None else str(req.status_code)
    comment = f"# {req.id}  {req.start.isoformat()}  {method} {hreq.uri} -> {status}"
    command = " ".join(shlex.quote(a) for a in args)
    if heredoc:  # the body follows the command line as a here-document
        command = f"base64 -d <<'NGROK_INSPECT_BODY' | {command}\n{heredoc}"
    else:
        command += "\n"
    return f"{comment.replace(chr(10), ' ')}\n{command}"


def render_curl(
    reqs: Iterable[CapturedRequest], *, public_urls: Mapping[str, str] | None = None
) -> str:
    """A POSIX shell script: one runnable curl command per request, oldest first.

    Method, URL, headers (wire order, repeats kept) and body are reproduced exactly; text
    bodies up to 16 KiB go in ``--data-raw``, binary or larger ones through
    ``base64 -d | curl --data-binary @-`` so no byte is lost to the shell. Does not redact.
    """
    parts = ["#!/bin/sh\n# curl commands exported by ngrok-inspect\n"]
    parts += ["\n" + _curl_command(r, public_urls) for r in _chronological(reqs)]
    return "".join(parts)


# --------------------------------------------------------------------------- dispatch


def render_export(
    reqs: list[CapturedRequest],
    fmt: str,
    *,
    redact: bool = True,
    public_urls: dict[str, str] | None = None,
) -> str:
    """The export of ``reqs`` in format ``fmt`` (one of :data:`FORMATS`) as text.

    ``redact`` (default) replaces secret header values everywhere, ``raw`` bytes included.
    ``public_urls`` maps tunnel names to public URLs (the origin of HAR/curl URLs; the
    Host header is used for tunnels not in it). UsageError for an unknown format.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}", hint=f"Use one of: {', '.join(FORMATS)}")
    if redact:
        reqs = redact_requests(reqs)
    if fmt == "json":
        return json.dumps([r.to_dict() for r in reqs], indent=2, ensure_ascii=False) + "\n"
    if fmt == "ndjson":
        return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in reqs)
    if fmt == "raw":
        return json.dumps([r.data for r in reqs], indent=2, ensure_ascii=False) + "\n"
    if fmt == "har":
        doc = render_har(reqs, public_urls=public_urls)
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    return render_curl(reqs, public_urls=public_urls)


# --------------------------------------------------------------------------- files


def _hint(err: OSError) -> str:
    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return "Free some space, or write somewhere else with -o PATH"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "Choose a writable directory with -o PATH"
    return "Check the path, or write to stdout without -o"


def _fail(path: Path, err: OSError) -> OutputError:
    reason = err.strerror or str(err)
    return OutputError(f"cannot write {path}: {reason}", hint=_hint(err))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def write_atomic(path: Path, data: str | bytes, *, force: bool = False) -> None:
    """Write ``data`` to ``path`` atomically, or not at all.

    The data goes to a temporary file in the same directory, is fsync'ed, then renamed
    over ``path`` (``os.replace``); on any failure the target is untouched and the
    temporary file removed. An existing ``path`` needs ``force`` (UsageError otherwise,
    exit 2); a missing directory is a UsageError too; I/O failures (full disk, permission)
    raise OutputError (exit 1). A device or FIFO (``/dev/stdout``) is written directly.
    A new file gets the usual permissions (0666 minus the umask); a replaced file keeps
    its mode.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path = Path(path)
    try:
        st: os.stat_result | None = path.stat()
    except FileNotFoundError:
        st = None
    except OSError as e:
        if e.errno == errno.ENOTDIR:
            raise UsageError(
                f"cannot write {path}: {path.parent} is not a directory",
                hint="Choose an existing directory with -o PATH",
            ) from None
        raise _fail(path, e) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise UsageError(
            f"cannot write {path}: it is a directory", hint="Give a file name with -o PATH"
        )
    if st is not None and not stat.S_ISREG(st.st_mode):
        _write_device(path, payload)
        return
    if st is not None and not force:
        raise UsageError(
            f"{path} already exists", hint="Use --force to overwrite it, or choose another path"
        )
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(
            f"cannot write {path}: directory {parent} does not exist",
            hint="Create it first, or choose another path with -o",
        )
    try:
        fd, tmp_name = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise _fail(path, e) from None
    tmp = Path(tmp_name)
    try:
        try:
            _write_all(fd, payload)
            os.fsync(fd)
            if st is not None:
                os.fchmod(fd, stat.S_IMODE(st.st_mode))
            else:
                umask = os.umask(0)
                os.umask(umask)
                os.fchmod(fd, 0o666 & ~umask)
        finally:
            os.close(fd)
        if force:
            tmp.replace(path)
        else:
            _link_no_clobber(tmp, path)
        _fsync_dir(parent)
    except FileExistsError:
        _unlink_quietly(tmp)
        raise UsageError(
            f"{path} already exists", hint="Use --force to overwrite it, or choose another path"
        ) from None
    except OSError as e:
        _unlink_quietly(tmp)
        raise _fail(path, e) from None
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _link_no_clobber(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` to ``path`` unless ``path`` appeared meanwhile (FileExistsError)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # no hard links here (some filesystems): a plain rename, checked first
        if path.exists():
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
        tmp.replace(path)
        return
    tmp.unlink()


def _fsync_dir(directory: Path) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(dfd)
    finally:
        os.close(dfd)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _write_device(path: Path, payload: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as e:
        raise _fail(path, e) from None
    try:
        _write_all(fd, payload)
    except OSError as e:
        raise _fail(path, e) from None
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
