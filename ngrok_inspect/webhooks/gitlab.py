"""GitLab: ``X-Gitlab-Token`` carries the secret token itself (no HMAC, no timestamp)."""

from __future__ import annotations

from datetime import datetime

from ngrok_inspect.webhooks.base import Provider, SignedMessage, VerifyResult, same

HEADER = "X-Gitlab-Token"


class GitLab(Provider):
    name = "gitlab"
    headers = (HEADER,)

    def verify(self, msg: SignedMessage, secret: str, now: datetime) -> VerifyResult:
        value = msg.header(HEADER)
        if value is None:
            return self.result("unsigned")
        if same(value, secret):
            return self.result("valid")
        return self.result("invalid", "token mismatch: wrong secret")

    def sign(self, msg: SignedMessage, secret: str, now: datetime) -> list[tuple[str, str]]:
        return [(HEADER, secret)]
