"""Shopify: ``X-Shopify-Hmac-Sha256: <base64>``, HMAC-SHA256 of the body keyed by the app's
client secret; no timestamp."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from ngrok_inspect.webhooks.base import Provider, SignedMessage, VerifyResult, same

HEADER = "X-Shopify-Hmac-Sha256"


def _sig(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class Shopify(Provider):
    name = "shopify"
    headers = (HEADER,)

    def verify(self, msg: SignedMessage, secret: str, now: datetime) -> VerifyResult:
        value = msg.header(HEADER)
        if value is None:
            return self.result("unsigned")
        if not value.strip():
            return self.malformed(HEADER, "is empty")
        return (
            self.result("valid")
            if same(_sig(secret, msg.body), value.strip())
            else self.mismatch(msg)
        )

    def sign(self, msg: SignedMessage, secret: str, now: datetime) -> list[tuple[str, str]]:
        return [(HEADER, _sig(secret, msg.body))]
