"""Slack: ``X-Slack-Signature: v0=<hex>``, HMAC-SHA256 of ``v0:<ts>:body`` keyed by the
signing secret, ``X-Slack-Request-Timestamp``; 300 s tolerance."""

from __future__ import annotations

from datetime import datetime

from ngrok_inspect.webhooks.base import (
    Provider,
    SignedMessage,
    VerifyResult,
    hmac_hex,
    parse_int,
    same,
)

SIGNATURE = "X-Slack-Signature"
TIMESTAMP = "X-Slack-Request-Timestamp"


class Slack(Provider):
    name = "slack"
    headers = (SIGNATURE, TIMESTAMP)
    tolerance_s = 300

    def _expected(self, msg: SignedMessage, secret: str, ts: int) -> str:
        return "v0=" + hmac_hex(secret.encode(), f"v0:{ts}:".encode() + msg.body)

    def verify(self, msg: SignedMessage, secret: str, now: datetime) -> VerifyResult:
        sig = msg.header(SIGNATURE)
        if sig is None:
            return self.result("unsigned")
        ts = parse_int(msg.header(TIMESTAMP))
        if ts is None:
            return self.malformed(TIMESTAMP, "is missing or not a number")
        if not sig.strip().startswith("v0="):
            return self.malformed(SIGNATURE, "is not v0=<hex>")
        return self.timed(msg, ts, now, same(self._expected(msg, secret, ts), sig.strip()))

    def sign(self, msg: SignedMessage, secret: str, now: datetime) -> list[tuple[str, str]]:
        ts = int(now.timestamp())
        return [(TIMESTAMP, str(ts)), (SIGNATURE, self._expected(msg, secret, ts))]
