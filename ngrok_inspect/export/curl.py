"""curl: a POSIX shell script, one runnable curl command per request, oldest first."""

from __future__ import annotations

import base64
import shlex
from collections.abc import Iterable, Mapping

from ngrok_inspect.export.common import chronological, full_url, payload, raw_undecodable
from ngrok_inspect.models import CapturedRequest

__all__ = ["curl_command", "render_curl"]


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


def curl_command(req: CapturedRequest, public_urls: Mapping[str, str] | None = None) -> str:
    """One request as a commented, runnable curl command (newline-terminated)."""
    hreq = req.request
    body = payload(hreq)
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
    code = req.status_code
    status = str(code) if code is not None else "failed" if req.failed else "pending"
    comment = f"# {req.id}  {req.start.isoformat()}  {method} {hreq.uri} -> {status}"
    comment = comment.replace("\n", " ").replace("\r", " ")
    if raw_undecodable(hreq):
        comment += "\n# WARNING: the agent's raw bytes were not valid base64: body unknown"
    command = " ".join(shlex.quote(a) for a in args)
    if heredoc:  # the body follows the command line as a here-document
        command = f"base64 -d <<'NGROK_INSPECT_BODY' | {command}\n{heredoc}"
    else:
        command += "\n"
    return f"{comment}\n{command}"


def render_curl(
    reqs: Iterable[CapturedRequest], *, public_urls: Mapping[str, str] | None = None
) -> str:
    """A POSIX shell script: one runnable curl command per request, oldest first.

    Method, URL, headers (wire order, repeats kept) and body are reproduced exactly; text
    bodies up to 16 KiB go in ``--data-raw``, binary or larger ones through
    ``base64 -d | curl --data-binary @-`` so no byte is lost to the shell. Does not redact.
    """
    parts = ["#!/bin/sh\n# curl commands exported by ngrok-inspect\n"]
    parts += ["\n" + curl_command(r, public_urls) for r in chronological(reqs)]
    return "".join(parts)
