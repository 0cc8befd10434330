"""HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/): oldest first, as browsers write it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ngrok_inspect.export.common import (
    chronological,
    full_url,
    header,
    header_values,
    payload,
    raw_undecodable,
)
from ngrok_inspect.models import CapturedRequest, HttpMessage, HttpRequest, HttpResponse

__all__ = ["render_har", "render_har_text"]


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
    for value in header_values(req, "Cookie"):
        for pair in value.split(";"):
            name, eq, val = pair.strip().partition("=")
            if eq and name:
                out.append({"name": name, "value": val})
    return out


def _response_cookies(resp: HttpResponse) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for value in header_values(resp, "Set-Cookie"):
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
    mime = header(req, "Content-Type") or ""
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
        "mimeType": header(resp, "Content-Type") or "x-unknown",
    }
    if body.encoding and body.decode_error is None:
        content["compression"] = len(data) - len(payload(resp))
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
        "bodySize": len(payload(hreq)),
    }
    post = _post_data(hreq)
    if post is not None:
        request["postData"] = post
    resp = req.response
    if resp is None:  # HAR needs a response; status 0 as browsers write aborted ones
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
            "comment": (
                f"no response: the exchange failed ({req.error})"
                if req.failed
                else "no response captured (pending)"
            ),
        }
    else:
        response = {
            "status": resp.status_code,
            "statusText": resp.reason,
            "httpVersion": resp.proto or "HTTP/1.1",
            "cookies": _response_cookies(resp),
            "headers": _har_headers(resp),
            "content": _content(resp),
            "redirectURL": header(resp, "Location") or "",
            "headersSize": _headers_size(resp),
            "bodySize": len(payload(resp)),
        }
    time_ms = round(req.duration_ms, 3)
    for side, obj in (("request", request), ("response", response)):
        msg = hreq if side == "request" else resp
        if msg is not None and raw_undecodable(msg):
            obj["comment"] = "the agent's raw bytes were not valid base64: body unknown"
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
            "entries": [_har_entry(r, public_urls) for r in chronological(reqs)],
        }
    }


def render_har_text(
    reqs: Iterable[CapturedRequest], *, public_urls: Mapping[str, str] | None = None
) -> str:
    """:func:`render_har` as indented JSON text."""
    doc = render_har(reqs, public_urls=public_urls)
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
