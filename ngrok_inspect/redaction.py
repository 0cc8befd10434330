"""The one redaction policy: which header, query parameter and body field values are secret.

Applied wherever data leaves the tool (every export format by default, ``requests list
--json --redact``, ``requests show --json --redact``, replay's dry-run output). Redaction
works on the agent's own objects, *before* any format is built, so no format can leak what
another hides: the ``headers`` map, the ``uri`` (query string) and the base64 ``raw`` wire
bytes, which are rewritten consistently (header values, the request-target's query, the
body's JSON/form/multipart fields, ``Content-Length`` fixed, a chunked body re-framed as
one chunk, a gzip/deflate/br body re-compressed). A body that cannot be decoded (unknown
or corrupt content-encoding, truncated JSON) is left as captured: what cannot be read
cannot be searched; headers and query are still redacted.

A redacted value reads :data:`REDACTED` (``%5BREDACTED%5D`` inside a URL-encoded query or
form, which decodes to it). Pure: no I/O, no UI libraries.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from ngrok_inspect.bodies import compress, dechunk, decompress, parse_content_type
from ngrok_inspect.models import CapturedRequest, decode_raw

__all__ = [
    "DEFAULT_POLICY",
    "REDACTED",
    "Redacted",
    "RedactionPolicy",
    "redact_agent_object",
    "redact_raw",
    "redact_requests",
]

REDACTED = "[REDACTED]"
"""What a redacted value is replaced with."""

_REDACTED_Q = quote_plus(REDACTED).encode("ascii")

# substrings of a lower-case header name that make its value secret; covers Authorization,
# Proxy-Authorization, Cookie, Set-Cookie, X-Api-Key, X-Gitlab-Token, X-Shopify-Hmac-Sha256,
# Stripe-Signature, X-Hub-Signature(-256), X-Slack-Signature, webhook-signature,
# X-Twilio-Signature, Signature / Signature-Input (RFC 9421), X-Amz-Security-Token,
# X-CSRF-Token, Private-Token, X-Auth-Token, X-Access-Token, X-Session-Id ...
_HEADER_PARTS = (
    "auth", "cookie", "token", "secret", "signature", "hmac", "api-key", "apikey", "api_key",
    "session", "csrf", "xsrf", "password", "passwd", "credential",
)  # fmt: skip

# query parameter / body field names (lower-case, '-' read as '_') that are secret exactly
_PARAM_NAMES = frozenset(
    {
        "token", "access_token", "refresh_token", "id_token", "auth_token", "api_key",
        "apikey", "key", "secret", "client_secret", "password", "passwd", "pwd", "passphrase",
        "auth", "authorization", "signature", "sig", "session", "sessionid", "session_id",
        "csrf", "_csrf", "csrf_token", "csrfmiddlewaretoken", "xsrf_token", "private_token",
        "cookie", "hmac", "otp", "code_verifier", "x_amz_security_token",
        "x_amz_signature", "x_amz_credential",
    }
)  # fmt: skip
# ... and names that contain one of these
_PARAM_PARTS = ("token", "secret", "password", "passwd", "api_key", "apikey")


@dataclass(frozen=True)
class RedactionPolicy:
    """Which names are secret. ``extra`` adds names (``--redact NAME``), matched
    case-insensitively and exactly against header names, query parameters and body fields."""

    extra: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def with_names(cls, names: Iterable[str]) -> RedactionPolicy:
        """The default policy plus ``names``."""
        return cls(frozenset(n.strip().lower() for n in names if n.strip()))

    def is_secret_header(self, name: str) -> bool:
        """True when the value of header ``name`` is a secret."""
        lname = name.strip().lower()
        return lname in self.extra or any(p in lname for p in _HEADER_PARTS)

    def is_secret_param(self, name: str) -> bool:
        """True when a query parameter or body field called ``name`` holds a secret."""
        lname = name.strip().lower()
        if lname in self.extra:
            return True
        norm = lname.replace("-", "_")
        if "[" in norm:  # PHP/Rails style user[password]: the innermost name decides
            norm = norm.rstrip("]").rsplit("[", 1)[-1]
        return norm in _PARAM_NAMES or any(p in norm for p in _PARAM_PARTS)


DEFAULT_POLICY = RedactionPolicy()
"""The built-in names only."""


@dataclass
class Redacted:
    """Redacted copies and what was done: ``count`` values replaced, ``undecodable`` ids
    of requests whose ``raw`` was not valid base64 (replaced by null: neither readable nor
    redactable)."""

    requests: list[CapturedRequest]
    count: int = 0
    undecodable: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- query / form


def _redact_urlencoded(data: bytes, policy: RedactionPolicy) -> tuple[bytes, int]:
    """``a=1&token=x`` with secret values replaced; order, spelling and separators kept."""
    count = 0
    out: list[bytes] = []
    for pair in data.split(b"&"):
        name, eq, value = pair.partition(b"=")
        if eq and value != _REDACTED_Q:
            try:
                key = unquote_plus(name.decode("latin-1"))
            except ValueError:  # pragma: no cover - unquote_plus does not raise on str
                key = ""
            if policy.is_secret_param(key):
                pair = name + b"=" + _REDACTED_Q
                count += 1
        out.append(pair)
    return (b"&".join(out), count) if count else (data, 0)


def _redact_uri(uri: bytes, policy: RedactionPolicy) -> tuple[bytes, int]:
    path, q, rest = uri.partition(b"?")
    if not q:
        return uri, 0
    query, hashmark, frag = rest.partition(b"#")
    new, count = _redact_urlencoded(query, policy)
    return (path + b"?" + new + hashmark + frag, count) if count else (uri, 0)


# --------------------------------------------------------------------------- bodies


def _redact_json_value(value: Any, policy: RedactionPolicy) -> tuple[Any, int]:
    if isinstance(value, dict):
        count = 0
        out: dict[str, Any] = {}
        for k, v in value.items():
            if policy.is_secret_param(str(k)) and v is not None and v != REDACTED:
                out[k] = REDACTED
                count += 1
            else:
                out[k], n = _redact_json_value(v, policy)
                count += n
        return out, count
    if isinstance(value, list):
        items = [_redact_json_value(v, policy) for v in value]
        return [v for v, _ in items], sum(n for _, n in items)
    return value, 0


def _redact_json(data: bytes, policy: RedactionPolicy) -> tuple[bytes, int]:
    try:
        doc = json.loads(data)
    except ValueError:  # truncated or not JSON after all: left as captured
        return data, 0
    new, count = _redact_json_value(doc, policy)
    if not count:
        return data, 0
    compact = b"\n" not in data.strip()
    text = json.dumps(new, ensure_ascii=False, separators=(",", ":") if compact else None,
                      indent=None if compact else 2)  # fmt: skip
    return text.encode("utf-8"), count


_DISPOSITION_NAME = re.compile(rb'(?i)content-disposition:[^\r\n]*?\bname="?([^";\r\n]*)')


def _redact_multipart(data: bytes, boundary: str, policy: RedactionPolicy) -> tuple[bytes, int]:
    delim = b"--" + boundary.encode("latin-1")
    pieces = data.split(delim)
    count = 0
    for i in range(1, len(pieces)):
        piece = pieces[i]
        sep = piece.find(b"\r\n\r\n")
        if sep < 0:
            continue
        head, content = piece[: sep + 4], piece[sep + 4 :]
        m = _DISPOSITION_NAME.search(head)
        if m is None or not policy.is_secret_param(m.group(1).decode("latin-1")):
            continue
        tail = b"\r\n" if content.endswith(b"\r\n") else b""
        if content[: len(content) - len(tail)] == REDACTED.encode():
            continue
        pieces[i] = head + REDACTED.encode() + tail
        count += 1
    return (delim.join(pieces), count) if count else (data, 0)


def _redact_payload(data: bytes, ctype: str | None, policy: RedactionPolicy) -> tuple[bytes, int]:
    media, params = parse_content_type(ctype)
    media = media or ""
    if media == "application/x-www-form-urlencoded":
        return _redact_urlencoded(data, policy)
    if media.startswith("multipart/") and params.get("boundary"):
        return _redact_multipart(data, params["boundary"], policy)
    if media == "application/json" or media.endswith("+json") or data.lstrip()[:1] in (b"{", b"["):
        return _redact_json(data, policy)
    return data, 0


# --------------------------------------------------------------------------- wire bytes


def _header_value(lines: list[bytes], name: bytes) -> bytes | None:
    for line in lines[1:]:
        k, colon, v = line.partition(b":")
        if colon and k.strip().lower() == name:
            return v.strip()
    return None


def redact_raw(
    raw: bytes, policy: RedactionPolicy = DEFAULT_POLICY, *, request: bool = True
) -> tuple[bytes, int]:
    """Wire bytes with secret header values, query values (``request``) and body fields
    replaced, and how many; ``raw`` itself (same object) when nothing is secret."""
    sep = raw.find(b"\r\n\r\n")
    gap = 4
    if sep < 0:
        sep, gap = raw.find(b"\n\n"), 2
    head, body = (raw, b"") if sep < 0 else (raw[:sep], raw[sep + gap :])
    blank = b"" if sep < 0 else raw[sep : sep + gap]
    lines = head.split(b"\n")
    count = 0
    if request and lines:
        parts = lines[0].split(b" ")
        if len(parts) >= 2:
            parts[1], n = _redact_uri(parts[1], policy)
            if n:
                lines[0] = b" ".join(parts)
                count += n
    out: list[bytes] = lines[:1]
    redacting = False  # inside a folded (continued) secret header: drop the continuation
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            if not redacting:
                out.append(line)
            continue
        name, colon, value = line.partition(b":")
        redacting = bool(colon) and policy.is_secret_header(name.decode("latin-1"))
        if redacting and value.strip(b" \t\r") != REDACTED.encode():
            cr = b"\r" if line.endswith(b"\r") else b""
            line = name + b": " + REDACTED.encode() + cr
            count += 1
        out.append(line)
    lines = out
    if body:
        new_body, n = _redact_body(lines, body, policy)
        if n:
            count += n
            body = new_body
    if not count:
        return raw, 0
    return b"\n".join(lines) + blank + body, count


def _redact_body(lines: list[bytes], body: bytes, policy: RedactionPolicy) -> tuple[bytes, int]:
    """The body with secret fields replaced; ``lines`` (the header block) fixed to match."""
    te = (_header_value(lines, b"transfer-encoding") or b"").decode("latin-1").lower()
    chunked = "chunked" in te
    payload = dechunk(body)[0] if chunked else body
    encoding = (_header_value(lines, b"content-encoding") or b"").decode("latin-1")
    plain, error = decompress(payload, encoding or None)
    if error:
        return body, 0
    ctype = _header_value(lines, b"content-type")
    new, count = _redact_payload(plain, None if ctype is None else ctype.decode("latin-1"), policy)
    if not count:
        return body, 0
    if encoding:
        again = compress(new, encoding)
        if again is None:  # pragma: no cover - decompress refused such encodings already
            return body, 0
        new = again
    if chunked:
        return b"%x\r\n%s\r\n0\r\n\r\n" % (len(new), new), count
    for i, line in enumerate(lines):
        k, colon, _ = line.partition(b":")
        if i and colon and k.strip().lower() == b"content-length":
            cr = b"\r" if line.endswith(b"\r") else b""
            lines[i] = k + b": " + str(len(new)).encode() + cr
    return new, count


# --------------------------------------------------------------------------- agent objects


def _redact_message(msg: Any, policy: RedactionPolicy, *, request: bool) -> tuple[Any, int, bool]:
    """(copy, count, raw_undecodable) of one side of an exchange."""
    if not isinstance(msg, Mapping):
        return msg, 0, False
    out = dict(msg)
    count = 0
    headers = msg.get("headers")
    header_count = 0
    if isinstance(headers, Mapping):
        new_headers: dict[str, Any] = {}
        for name, values in headers.items():
            if not policy.is_secret_header(str(name)):
                new_headers[name] = list(values) if isinstance(values, list) else values
                continue
            vals = values if isinstance(values, list) else [values]
            header_count += sum(1 for v in vals if v != REDACTED)
            new_headers[name] = [REDACTED for _ in vals] if isinstance(values, list) else REDACTED
        out["headers"] = new_headers
    uri = msg.get("uri")
    if request and isinstance(uri, str):
        new_uri, n = _redact_uri(uri.encode("utf-8", "surrogateescape"), policy)
        if n:
            out["uri"] = new_uri.decode("utf-8", "surrogateescape")
            count += n
    raw = msg.get("raw")
    undecodable = False
    raw_headers = 0
    if raw is not None and raw != "":
        decoded, raw_error = decode_raw(raw)
        if raw_error is not None:
            out["raw"] = None
            undecodable = True
        else:
            new, n = redact_raw(decoded, policy, request=request)
            if n:
                out["raw"] = base64.b64encode(new).decode("ascii")
                _sync_content_length(out, new)
                # the raw request-target repeats the uri's query: count it once
                raw_headers = n - (count if request else 0)
    # the map and the raw header block hold the same header values: count them once
    count += max(header_count, raw_headers)
    return out, count, undecodable


def _sync_content_length(msg: dict[str, Any], raw: bytes) -> None:
    """The agent's header map says what the rewritten wire bytes say about the body size."""
    headers = msg.get("headers")
    if not isinstance(headers, dict):
        return
    end = raw.find(b"\r\n\r\n")
    value = _header_value(raw[: end if end >= 0 else len(raw)].split(b"\r\n"), b"content-length")
    if value is None:
        return
    for name in headers:
        if str(name).lower() == "content-length":
            headers[name] = [value.decode("latin-1")]


def redact_agent_object(
    data: Mapping[str, Any], policy: RedactionPolicy = DEFAULT_POLICY
) -> tuple[dict[str, Any], int]:
    """A redacted copy of one captured request as the agent serves it, and how many values
    were replaced. An invalid base64 ``raw`` becomes null (it can be neither read nor
    redacted)."""
    out = dict(data)
    count = 0
    for side in ("request", "response"):
        if side in out:
            out[side], n, _ = _redact_message(out[side], policy, request=side == "request")
            count += n
    return out, count


def redact_requests(
    reqs: Iterable[CapturedRequest], policy: RedactionPolicy = DEFAULT_POLICY
) -> Redacted:
    """Redacted copies of captured requests (new models built from redacted agent objects)."""
    result = Redacted([])
    for r in reqs:
        data = dict(r.data)
        bad = False
        for side in ("request", "response"):
            if side in data:
                data[side], n, undecodable = _redact_message(
                    data[side], policy, request=side == "request"
                )
                result.count += n
                bad = bad or undecodable
        if bad:
            result.undecodable.append(r.id)
        result.requests.append(CapturedRequest(data))
    return result
