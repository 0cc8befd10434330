"""Verify many captured requests at once (what ``ngrok-inspect verify`` runs)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ngrok_inspect.webhooks import get_provider, verify
from ngrok_inspect.webhooks.base import VerifyResult

if TYPE_CHECKING:
    from ngrok_inspect.models import CapturedRequest


@dataclass(frozen=True)
class Checked:
    """One request's verdict."""

    request: CapturedRequest
    result: VerifyResult

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.request.id,
            "method": self.request.method,
            "uri": self.request.request.uri,
            "start": self.request.start_text,
            **self.result.to_dict(),
        }


def check_all(
    requests: Iterable[CapturedRequest],
    provider: str,
    secret: str,
    *,
    now: datetime | None = None,
    url: str | None = None,
) -> list[Checked]:
    """Each request's verdict (``provider`` may be ``auto``); an unknown provider or a
    malformed secret raises UsageError before any request is judged."""
    if provider.lower() != "auto":
        get_provider(provider).check_secret(secret)
    return [Checked(r, verify(r, provider, secret, now=now, url=url)) for r in requests]
