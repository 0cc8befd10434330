"""Standard Webhooks (Svix): ``webhook-id``, ``webhook-timestamp``, ``webhook-signature:
v1,<base64> [v1,<base64> …]``, HMAC-SHA256 of ``id.ts.body`` keyed by the base64 part of
a ``whsec_`` secret; 300 s tolerance either way. Svix's ``svix-*`` names work too."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime

from ngrok_inspect.errors import UsageError
from ngrok_inspect.webhooks.base import Provider, SignedMessage, VerifyResult, parse_int

PREFIX = "whsec_"


def key_bytes(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (UsageError, not quoting it, if not)."""
    raw = secret[len(PREFIX) :] if secret.startswith(PREFIX) else secret
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise UsageError(
            "the standard-webhooks secret is not whsec_<base64>",
            hint="Copy the endpoint's signing secret as shown (it starts with whsec_)",
        )
    return key


class StandardWebhooks(Provider):
    name = "standard"
    headers = ("webhook-signature", "webhook-id", "webhook-timestamp")
    tolerance_s = 300
    secret_hint = "Copy the endpoint's signing secret as shown (it starts with whsec_)"

    def _names(self, msg: SignedMessage) -> tuple[str, str, str]:
        if msg.header("webhook-signature") is None and msg.header("svix-signature") is not None:
            return "svix-id", "svix-timestamp", "svix-signature"
        return "webhook-id", "webhook-timestamp", "webhook-signature"

    def detect(self, msg: SignedMessage) -> bool:
        return (
            msg.header("webhook-signature") is not None or msg.header("svix-signature") is not None
        )

    def check_secret(self, secret: str) -> None:
        key_bytes(secret)

    def _expected(self, msg: SignedMessage, secret: str, wid: str, ts: int) -> bytes:
        data = f"{wid}.{ts}.".encode() + msg.body
        return hmac.new(key_bytes(secret), data, hashlib.sha256).digest()

    def verify(self, msg: SignedMessage, secret: str, now: datetime) -> VerifyResult:
        id_h, ts_h, sig_h = self._names(msg)
        value = msg.header(sig_h)
        if value is None:
            return self.result("unsigned")
        wid = msg.header(id_h)
        if not wid:
            return self.malformed(id_h, "is missing")
        ts = parse_int(msg.header(ts_h))
        if ts is None:
            return self.malformed(ts_h, "is missing or not a number")
        sigs = []
        for token in value.split():
            version, comma, sig = token.partition(",")
            if comma and version == "v1":
                try:
                    sigs.append(base64.b64decode(sig, validate=True))
                except (binascii.Error, ValueError):
                    continue
        if not sigs:
            return self.malformed(sig_h, "has no v1,<base64> signature")
        expected = self._expected(msg, secret, wid, ts)
        matched = any(hmac.compare_digest(expected, s) for s in sigs)
        return self.timed(msg, ts, now, matched, future=True)

    def sign(self, msg: SignedMessage, secret: str, now: datetime) -> list[tuple[str, str]]:
        id_h, ts_h, sig_h = self._names(msg)
        wid = msg.header(id_h) or f"msg_{int(now.timestamp())}"
        ts = int(now.timestamp())
        sig = base64.b64encode(self._expected(msg, secret, wid, ts)).decode()
        return [(id_h, wid), (ts_h, str(ts)), (sig_h, f"v1,{sig}")]
