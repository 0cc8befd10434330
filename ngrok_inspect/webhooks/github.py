"""GitHub: ``X-Hub-Signature-256: sha256=<hex>`` (and the legacy ``X-Hub-Signature:
sha1=<hex>``), HMAC of the body keyed by the webhook secret; no timestamp."""

from __future__ import annotations

from datetime import datetime

from ngrok_inspect.webhooks.base import Provider, SignedMessage, VerifyResult, hmac_hex, same

SHA256 = "X-Hub-Signature-256"
SHA1 = "X-Hub-Signature"


class GitHub(Provider):
    name = "github"
    headers = (SHA256, SHA1)

    def detect(self, msg: SignedMessage) -> bool:
        return msg.header(SHA256) is not None or msg.header(SHA1) is not None

    def verify(self, msg: SignedMessage, secret: str, now: datetime) -> VerifyResult:
        for header, algo in ((SHA256, "sha256"), (SHA1, "sha1")):
            value = msg.header(header)
            if value is None:
                continue
            prefix, eq, sig = value.strip().partition("=")
            if not eq or prefix != algo or not sig:
                return self.malformed(header, f"is not {algo}=<hex>")
            if same(hmac_hex(secret.encode(), msg.body, algo), sig.lower()):
                return self.result("valid")
            return self.mismatch(msg)
        return self.result("unsigned")

    def sign(self, msg: SignedMessage, secret: str, now: datetime) -> list[tuple[str, str]]:
        out = [(SHA256, "sha256=" + hmac_hex(secret.encode(), msg.body, "sha256"))]
        if msg.header(SHA1) is not None:
            out.append((SHA1, "sha1=" + hmac_hex(secret.encode(), msg.body, "sha1")))
        return out
