"""Webhook signatures: detect the provider of a captured request, verify it, re-sign it.

One module per provider behind :class:`~ngrok_inspect.webhooks.base.Provider` (detect,
verify, sign). Verdicts are ``valid``, ``invalid`` (with the likely reason), ``stale``
(signed longer before it was judged than the provider tolerates) and ``unsigned``;
by default a capture is judged at its arrival time.

    >>> from ngrok_inspect import webhooks
    >>> result = webhooks.verify(req, "stripe", secret)      # doctest: +SKIP
    >>> result.status, result.reason                           # doctest: +SKIP
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ngrok_inspect.errors import UsageError
from ngrok_inspect.webhooks.base import Provider, SignedMessage, VerifyResult
from ngrok_inspect.webhooks.github import GitHub
from ngrok_inspect.webhooks.gitlab import GitLab
from ngrok_inspect.webhooks.shopify import Shopify
from ngrok_inspect.webhooks.slack import Slack
from ngrok_inspect.webhooks.standard import StandardWebhooks
from ngrok_inspect.webhooks.stripe import Stripe
from ngrok_inspect.webhooks.twilio import Twilio

if TYPE_CHECKING:
    from ngrok_inspect.models import CapturedRequest

__all__ = [
    "PROVIDERS",
    "Provider",
    "SignedMessage",
    "VerifyResult",
    "detect",
    "get_provider",
    "sign",
    "verify",
]

#: Every provider by ``--provider`` name, in detection order.
PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (Stripe(), GitHub(), Slack(), StandardWebhooks(), Shopify(), Twilio(), GitLab())
}
_ALIASES = {"svix": "standard", "standard-webhooks": "standard", "standardwebhooks": "standard"}


def get_provider(name: str) -> Provider:
    """The provider called ``name`` (case-insensitive; ``svix`` is ``standard``);
    :class:`UsageError` for an unknown one."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in PROVIDERS:
        raise UsageError(
            f"unknown webhook provider {name!r}",
            hint=f"Use one of: {', '.join(PROVIDERS)}, or auto",
        )
    return PROVIDERS[key]


def _message(req: CapturedRequest | SignedMessage, url: str | None) -> SignedMessage:
    if isinstance(req, SignedMessage):
        return (
            req
            if url is None
            else SignedMessage(req.method, url, req.headers, req.body, req.arrived, req.truncated)
        )
    return SignedMessage.from_capture(req, url=url)


def detect(req: CapturedRequest | SignedMessage) -> Provider | None:
    """The first provider whose signature header the request carries, else None."""
    msg = _message(req, None)
    return next((p for p in PROVIDERS.values() if p.detect(msg)), None)


def verify(
    req: CapturedRequest | SignedMessage,
    provider: str | Provider | None,
    secret: str,
    *,
    now: datetime | None = None,
    url: str | None = None,
) -> VerifyResult:
    """Judge ``req``'s signature. ``provider`` None or ``"auto"`` detects it (``unsigned``
    when none matches); ``now`` defaults to the arrival time; ``url`` is the public URL the
    provider called (Twilio). A secret in the wrong format raises :class:`UsageError`."""
    msg = _message(req, url)
    if provider is None or (isinstance(provider, str) and provider.lower() == "auto"):
        found = detect(msg)
        if found is None:
            return VerifyResult(None, "unsigned", "no known signature header")
        prov = found
    else:
        prov = get_provider(provider) if isinstance(provider, str) else provider
    prov.check_secret(secret)
    return prov.verify(msg, secret, msg.arrived if now is None else now)


def sign(
    req: CapturedRequest | SignedMessage,
    provider: str | Provider,
    secret: str,
    *,
    now: datetime | None = None,
    url: str | None = None,
) -> SignedMessage:
    """``req`` with ``provider``'s signature headers recomputed at ``now`` (default: the
    current clock), replaced in place (captured name case and order kept)."""
    msg = _message(req, url)
    prov = get_provider(provider) if isinstance(provider, str) else provider
    prov.check_secret(secret)
    when = datetime.now(timezone.utc) if now is None else now
    return msg.with_headers(prov.sign(msg, secret, when))
