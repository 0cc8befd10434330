"""What every webhook provider module shares: the message, the verdict, the interface.

A provider signs the body bytes it sent; ``SignedMessage`` carries those bytes (de-chunked,
still compressed if they were), the headers in wire order, and the URL the provider
called (Twilio signs it). Verdicts are judged at ``now``: the capture's arrival time by
default, so a capture verified an hour later is still judged as its receiver saw it.

Secrets only ever go into HMAC keys and constant-time comparisons: no message, result or
repr here contains one.
"""

from __future__ import annotations

import hmac
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from ngrok_inspect.bodies import dechunk
from ngrok_inspect.errors import UsageError

if TYPE_CHECKING:
    from ngrok_inspect.models import CapturedRequest

Status = Literal["valid", "invalid", "stale", "unsigned"]

#: The likely reasons an invalid result names.
MISMATCH = "signature mismatch: wrong secret, or the body changed"
TRUNCATED = "the body was cut at the capture limit, so it cannot match"


@dataclass(frozen=True)
class SignedMessage:
    """A request as a webhook receiver sees it (what signatures are computed over)."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes
    arrived: datetime
    truncated: bool = False

    def header(self, name: str) -> str | None:
        """First value of ``name`` (case-insensitive)."""
        low = name.lower()
        for k, v in self.headers:
            if k.lower() == low:
                return v
        return None

    def with_headers(self, updates: list[tuple[str, str]]) -> SignedMessage:
        """A copy with each ``(name, value)`` set: replaced in place (keeping the captured
        name's case and position) when present, appended otherwise."""
        headers = list(self.headers)
        for name, value in updates:
            low = name.lower()
            idx = [i for i, (k, _) in enumerate(headers) if k.lower() == low]
            if idx:
                headers[idx[0]] = (headers[idx[0]][0], value)
                for i in reversed(idx[1:]):
                    del headers[i]
            else:
                headers.append((name, value))
        return replace(self, headers=headers)

    @classmethod
    def from_capture(cls, req: CapturedRequest, *, url: str | None = None) -> SignedMessage:
        """The message a captured request carried; ``url`` overrides the public URL
        rebuilt from ``Host`` and ``X-Forwarded-Proto``."""
        r = req.request
        body = r.body
        wire = body.wire
        if any(
            k.lower() == "transfer-encoding" and "chunked" in v.lower() for k, v in r.header_lines
        ):
            wire, _ = dechunk(wire)
        msg = cls(
            method=r.method,
            url="",
            headers=list(r.header_lines),
            body=wire,
            arrived=req.start,
            truncated=body.truncated,
        )
        return replace(msg, url=url or public_url(msg, r.uri))


def public_url(msg: SignedMessage, uri: str) -> str:
    """The URL the sender called: scheme from ``X-Forwarded-Proto`` (https when absent:
    tunnels are reached over TLS), host from ``X-Forwarded-Host`` or ``Host``."""
    proto = (msg.header("X-Forwarded-Proto") or "https").split(",")[0].strip() or "https"
    host = (msg.header("X-Forwarded-Host") or msg.header("Host") or "").split(",")[0].strip()
    return f"{proto}://{host}{uri}" if host else uri


@dataclass(frozen=True)
class VerifyResult:
    """One verdict: ``status``, the likely ``reason`` when not valid, and for timestamped
    schemes when it was signed and how old the signature was at ``now``."""

    provider: str | None
    status: Status
    reason: str | None = None
    signed_at: datetime | None = None
    age_s: float | None = None
    tolerance_s: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True for ``valid``."""
        return self.status == "valid"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (no secret in it)."""
        return {
            "provider": self.provider,
            "status": self.status,
            "reason": self.reason,
            "signed_at": None if self.signed_at is None else _iso(self.signed_at),
            "age_s": None if self.age_s is None else round(self.age_s, 3),
            "tolerance_s": self.tolerance_s,
        }


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class Provider(ABC):
    """One provider's signature scheme."""

    #: The name users pass to ``--provider`` (lower case).
    name: str
    #: The headers this scheme sets (detection looks for the first one).
    headers: tuple[str, ...]
    #: How old a timestamped signature may be, in seconds (None: no timestamp signed).
    tolerance_s: int | None = None
    #: What a secret looks like, for the hint when it is refused.
    secret_hint: str = "Pass the webhook signing secret from the provider's dashboard"

    def detect(self, msg: SignedMessage) -> bool:
        """True when the message carries this provider's signature header."""
        return msg.header(self.headers[0]) is not None

    def check_secret(self, secret: str) -> None:
        """Raise :class:`UsageError` when ``secret`` cannot be this provider's (never
        quoting it)."""
        if not secret:
            raise UsageError(f"the {self.name} secret is empty", hint=self.secret_hint)

    @abstractmethod
    def verify(self, msg: SignedMessage, secret: str, now: datetime) -> VerifyResult:
        """Judge ``msg`` at ``now``."""

    @abstractmethod
    def sign(self, msg: SignedMessage, secret: str, now: datetime) -> list[tuple[str, str]]:
        """The signature headers for ``msg`` signed at ``now`` (to set on the request)."""

    # helpers for the modules
    def result(self, status: Status, reason: str | None = None, **kw: Any) -> VerifyResult:
        return VerifyResult(self.name, status, reason, tolerance_s=self.tolerance_s, **kw)

    def mismatch(self, msg: SignedMessage) -> VerifyResult:
        return self.result("invalid", TRUNCATED if msg.truncated else MISMATCH)

    def malformed(self, header: str, why: str) -> VerifyResult:
        return self.result("invalid", f"header malformed: {header} {why}")

    def timed(
        self, msg: SignedMessage, ts: int, now: datetime, matched: bool, *, future: bool = False
    ) -> VerifyResult:
        """The verdict for a timestamped scheme once the signature was compared."""
        signed_at = datetime.fromtimestamp(ts, tz=timezone.utc)
        age = now.timestamp() - ts
        if not matched:
            r = self.mismatch(msg)
            return replace(r, signed_at=signed_at, age_s=age)
        tol = self.tolerance_s or 0
        if age > tol or (future and -age > tol):
            word = f"signed {age:.0f} s before" if age > 0 else f"signed {-age:.0f} s after"
            return self.result(
                "stale",
                f"{word} it was judged, beyond the {tol} s tolerance",
                signed_at=signed_at,
                age_s=age,
            )
        return self.result("valid", signed_at=signed_at, age_s=age)


def hmac_hex(key: bytes, data: bytes, digest: str = "sha256") -> str:
    return hmac.new(key, data, digest).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time string equality."""
    return hmac.compare_digest(a.encode(), b.encode())


def parse_int(text: str | None) -> int | None:
    if text is None:
        return None
    t = text.strip()
    return int(t) if t.isdigit() and len(t) < 16 else None
