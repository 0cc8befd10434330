"""``replay --dry-run``: what would be sent, as HTTP text, JSON or a curl command, with
credential and signature header values redacted."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from ngrok_inspect.export.curl import render_curl
from ngrok_inspect.models import CapturedRequest
from ngrok_inspect.redaction import DEFAULT_POLICY, REDACTED, redact_requests
from ngrok_inspect.replay.httptext import to_text
from ngrok_inspect.replay.message import OutgoingRequest

FORMATS = ("http", "json", "curl")


def is_secret(name: str) -> bool:
    return DEFAULT_POLICY.is_secret_header(name)


def _redacted(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, REDACTED if is_secret(k) else v) for k, v in headers]


def render(req: OutgoingRequest, url: str, fmt: str) -> str | dict[str, Any]:
    """The dry-run output for the request as sent (``wire`` already applied by caller)."""
    headers, body, _dropped = req.wire()
    shown = _redacted(headers)
    if fmt == "json":
        return {
            "url": url,
            "method": req.method,
            "target": req.target,
            "headers": [[k, v] for k, v in shown],
            "body": body.decode("utf-8", "backslashreplace"),
            "body_size": len(body),
        }
    if fmt == "curl":
        head = f"{req.method} {url} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in shown)
        raw = head.encode("utf-8") + b"\r\n" + body
        fake = CapturedRequest(
            {
                "id": "dry-run",
                "start": datetime.now(timezone.utc).isoformat(),
                "request": {
                    "method": req.method,
                    "uri": url,
                    "proto": "HTTP/1.1",
                    "headers": {},
                    "raw": base64.b64encode(raw).decode("ascii"),
                },
            }
        )
        (safe,) = redact_requests([fake]).requests
        return render_curl([safe])
    text_req = replace(req, headers=shown, body=body if req.body_edited else req.body)
    return to_text(text_req) + "\n"
