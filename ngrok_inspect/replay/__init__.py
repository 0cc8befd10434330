"""Replay a captured request with edits: the edit model, the HTTP text form, sending.

>>> from ngrok_inspect.replay import Edits, replay          # doctest: +SKIP
>>> result = replay(req, "http://127.0.0.1:3000", edits=Edits(json_set=[("amount", "9")]))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ngrok_inspect.replay.edits import Edits, apply_edits
from ngrok_inspect.replay.message import OutgoingRequest
from ngrok_inspect.replay.sending import SentResult, send

if TYPE_CHECKING:
    from ngrok_inspect.models import CapturedRequest

__all__ = ["Edits", "OutgoingRequest", "SentResult", "apply_edits", "prepare", "replay", "send"]


def prepare(
    req: CapturedRequest,
    edits: Edits | None = None,
    *,
    resign: str | None = None,
    secret: str | None = None,
    url: str | None = None,
) -> OutgoingRequest:
    """The request a replay of ``req`` sends: ``edits`` applied, then (with ``resign``)
    the provider's signature headers recomputed now over the edited body."""
    out = apply_edits(OutgoingRequest.from_capture(req), edits or Edits())
    if out.truncated:
        from ngrok_inspect.errors import UsageError

        raise UsageError(
            f"the body of {req.id} was cut at the capture limit: it cannot be sent as captured",
            hint="Give the whole body with --body TEXT|@file|-",
        )
    if resign is not None:
        from datetime import datetime, timezone

        from ngrok_inspect import webhooks
        from ngrok_inspect.errors import UsageError
        from ngrok_inspect.webhooks.base import SignedMessage

        if secret is None:
            raise UsageError(
                "--resign needs the signing secret",
                hint="Add --secret-env VAR (or --secret, --secret-file)",
            )
        body, _ = out.payload()
        msg = SignedMessage(out.method, url or "", out.headers, body, req.start)
        if not url:
            from ngrok_inspect.webhooks.base import public_url

            msg = SignedMessage(
                out.method, public_url(msg, out.target), out.headers, body, req.start
            )
        signed = webhooks.sign(msg, resign, secret, now=datetime.now(timezone.utc))
        for name, value in signed.headers:
            if out.header(name) != value:
                out = out.set_header(name, value)
    return out


def replay(
    req: CapturedRequest,
    to: str,
    *,
    edits: Edits | None = None,
    resign: str | None = None,
    secret: str | None = None,
    timeout: float = 30.0,
) -> SentResult:
    """Send ``req`` (edited, maybe re-signed) to the base URL ``to`` and return the answer."""
    return send(prepare(req, edits, resign=resign, secret=secret), to, timeout=timeout)
