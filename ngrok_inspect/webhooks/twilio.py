"""Twilio: ``X-Twilio-Signature: <base64>``, HMAC-SHA1 keyed by the auth token over the
public URL followed by every POST form parameter sorted by name (``name`` then ``value``).
A JSON body is covered by a ``bodySHA256`` query parameter instead (signed URL only).
The URL must be the one Twilio called: rebuilt from Host/X-Forwarded-Proto, or ``--url``."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from urllib.parse import parse_qs, parse_qsl, urlsplit

from ngrok_inspect.webhooks.base import Provider, SignedMessage, VerifyResult, same

HEADER = "X-Twilio-Signature"


def _payload(msg: SignedMessage) -> bytes:
    data = msg.url
    query = parse_qs(urlsplit(msg.url).query)
    ctype = (msg.header("Content-Type") or "").split(";")[0].strip().lower()
    if "bodySHA256" not in query and ctype == "application/x-www-form-urlencoded":
        params = parse_qsl(msg.body.decode("utf-8", "replace"), keep_blank_values=True)
        for k, v in sorted(params):
            data += k + v
    return data.encode()


def _sig(secret: str, msg: SignedMessage) -> str:
    return base64.b64encode(
        hmac.new(secret.encode(), _payload(msg), hashlib.sha1).digest()
    ).decode()


def _body_hash_ok(msg: SignedMessage) -> bool:
    wanted = parse_qs(urlsplit(msg.url).query).get("bodySHA256")
    return wanted is None or same(hashlib.sha256(msg.body).hexdigest(), wanted[0])


class Twilio(Provider):
    name = "twilio"
    headers = (HEADER,)
    secret_hint = (
        "Use the account's auth token (Twilio console); pass --url if the URL Twilio called differs"
    )

    def verify(self, msg: SignedMessage, secret: str, now: datetime) -> VerifyResult:
        value = msg.header(HEADER)
        if value is None:
            return self.result("unsigned")
        if not value.strip():
            return self.malformed(HEADER, "is empty")
        if not same(_sig(secret, msg), value.strip()):
            r = self.mismatch(msg)
            return self.result(
                "invalid", f"{r.reason} (or the URL: pass --url to give the one Twilio called)"
            )
        if not _body_hash_ok(msg):
            return self.mismatch(msg)
        return self.result("valid")

    def sign(self, msg: SignedMessage, secret: str, now: datetime) -> list[tuple[str, str]]:
        return [(HEADER, _sig(secret, msg))]
