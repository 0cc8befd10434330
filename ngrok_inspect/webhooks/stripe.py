"""Stripe: ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]``, HMAC-SHA256 of ``t.body`` keyed
by the endpoint secret (``whsec_…``, used as-is), 300 s tolerance."""

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

HEADER = "Stripe-Signature"


class Stripe(Provider):
    name = "stripe"
    headers = (HEADER,)
    tolerance_s = 300
    secret_hint = (
        "Use the endpoint's signing secret (whsec_…) from the Stripe dashboard or 'stripe listen'"
    )

    def _expected(self, msg: SignedMessage, secret: str, ts: int) -> str:
        return hmac_hex(secret.encode(), f"{ts}.".encode() + msg.body)

    def verify(self, msg: SignedMessage, secret: str, now: datetime) -> VerifyResult:
        value = msg.header(HEADER)
        if value is None:
            return self.result("unsigned")
        items = [p.partition("=") for p in value.split(",")]
        ts = parse_int(next((v for k, _, v in items if k.strip() == "t"), None))
        sigs = [v.strip() for k, _, v in items if k.strip() == "v1"]
        if ts is None:
            return self.malformed(HEADER, "has no t=<timestamp>")
        if not sigs:
            return self.malformed(HEADER, "has no v1= signature")
        expected = self._expected(msg, secret, ts)
        return self.timed(msg, ts, now, any(same(expected, s) for s in sigs))

    def sign(self, msg: SignedMessage, secret: str, now: datetime) -> list[tuple[str, str]]:
        ts = int(now.timestamp())
        return [(HEADER, f"t={ts},v1={self._expected(msg, secret, ts)}")]
