"""Webhook signatures judged by the providers' own libraries and published vectors."""

from __future__ import annotations

import base64
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
import standardwebhooks
import stripe
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

from ngrok_inspect import webhooks
from ngrok_inspect.errors import UsageError
from ngrok_inspect.webhooks import SignedMessage

NOW = datetime.now(timezone.utc).replace(microsecond=0)
BODY = b'{"id":"evt_1","type":"invoice.paid","data":{"amount":1200}}'
STRIPE_SECRET = "whsec_test_0123456789abcdef"
SW_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@pytest.fixture(autouse=True)
def _fresh_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """NOW as each test starts: the providers' libraries judge against the real clock
    (Stripe within 300 s), and a NOW taken at collection is stale once a loaded full
    suite has run for five minutes."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    monkeypatch.setattr(sys.modules[__name__], "NOW", now)


def message(
    body: bytes = BODY, headers: list[tuple[str, str]] | None = None, **kw: object
) -> SignedMessage:
    base = [("Host", "abc.ngrok.app"), ("Content-Type", "application/json")]
    return SignedMessage(
        method="POST",
        url=str(kw.get("url", "https://abc.ngrok.app/hook")),
        headers=base + (headers or []),
        body=body,
        arrived=kw.get("arrived", NOW),  # type: ignore[arg-type]
    )


def edited(msg: SignedMessage, body: bytes) -> SignedMessage:
    return SignedMessage(msg.method, msg.url, msg.headers, body, msg.arrived)


# --- published vectors -------------------------------------------------------------


def test_github_documented_example() -> None:
    # docs.github.com "Validating webhook deliveries", testing the webhook payload validation
    sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    msg = message(b"Hello, World!", [("X-Hub-Signature-256", sig)])
    assert webhooks.verify(msg, "github", "It's a Secret to Everybody").status == "valid"
    assert webhooks.verify(msg, "github", "It's a secret to everybody").status == "invalid"
    signed = webhooks.sign(message(b"Hello, World!"), "github", "It's a Secret to Everybody")
    assert signed.header("X-Hub-Signature-256") == sig


def test_standard_webhooks_spec_vector() -> None:
    ts = 1614265330
    headers = [
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ("webhook-timestamp", str(ts)),
        ("webhook-signature", "v1,bm9wZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
    ]
    arrived = datetime.fromtimestamp(ts + 5, tz=timezone.utc)
    msg = message(b'{"test": 2432232314}', headers, arrived=arrived)
    r = webhooks.verify(msg, "standard", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert (r.status, r.age_s) == ("valid", 5)
    # judged now (years later) the same signature is stale
    stale = webhooks.verify(msg, "auto", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", now=NOW)
    assert stale.status == "stale" and stale.provider == "standard"
    resigned = webhooks.sign(
        msg,
        "standard",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        now=datetime.fromtimestamp(ts, tz=timezone.utc),
    )
    assert resigned.header("webhook-signature") == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


# --- Stripe --------------------------------------------------------------------------


def stripe_accepts(msg: SignedMessage, secret: str = STRIPE_SECRET) -> bool:
    try:
        stripe.WebhookSignature.verify_header(
            msg.body.decode(), msg.header("Stripe-Signature"), secret, tolerance=300
        )
    except stripe.SignatureVerificationError:
        return False
    return True


def fresh_now() -> datetime:
    """The real clock now: the providers' libraries judge a signature against it (NOW is
    from the import of this module, which a loaded run may have left minutes behind)."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def test_stripe_sign_is_accepted_by_stripe_and_verify_agrees() -> None:
    now = fresh_now()
    msg = webhooks.sign(message(arrived=now), "stripe", STRIPE_SECRET, now=now)
    assert stripe_accepts(msg)
    assert webhooks.verify(msg, "auto", STRIPE_SECRET).status == "valid"
    assert webhooks.detect(msg) is webhooks.PROVIDERS["stripe"]


def test_stripe_invalid_and_stale_are_rejected_by_stripe() -> None:
    msg = webhooks.sign(message(), "stripe", STRIPE_SECRET, now=NOW)
    changed = edited(msg, BODY.replace(b"1200", b"1300"))
    r = webhooks.verify(changed, "stripe", STRIPE_SECRET)
    assert r.status == "invalid" and "body changed" in (r.reason or "")
    assert not stripe_accepts(changed)
    wrong = webhooks.verify(msg, "stripe", "whsec_other")
    assert wrong.status == "invalid" and not stripe_accepts(msg, "whsec_other")
    old = webhooks.sign(message(), "stripe", STRIPE_SECRET, now=NOW - timedelta(seconds=900))
    r = webhooks.verify(old, "stripe", STRIPE_SECRET, now=NOW)
    assert r.status == "stale" and "900 s" in (r.reason or "")
    assert not stripe_accepts(old)
    # at arrival (default) a capture that arrived right after signing is valid
    arrived = SignedMessage(
        old.method, old.url, old.headers, old.body, NOW - timedelta(seconds=899)
    )
    assert webhooks.verify(arrived, "stripe", STRIPE_SECRET).status == "valid"


def test_stripe_malformed_header() -> None:
    msg = message(headers=[("Stripe-Signature", "v1=abc")])
    r = webhooks.verify(msg, "stripe", STRIPE_SECRET)
    assert r.status == "invalid" and (r.reason or "").startswith("header malformed")


def test_resign_keeps_header_position_and_case() -> None:
    msg = message(headers=[("stripe-signature", "t=1,v1=00"), ("X-After", "1")])
    signed = webhooks.sign(msg, "stripe", STRIPE_SECRET, now=fresh_now())
    assert [k for k, _ in signed.headers] == ["Host", "Content-Type", "stripe-signature", "X-After"]
    assert stripe_accepts(signed)


# --- Standard Webhooks -------------------------------------------------------------


def test_standard_webhooks_sign_accepted_by_library() -> None:
    now = fresh_now()
    msg = webhooks.sign(
        message(headers=[("webhook-id", "msg_1")], arrived=now), "standard", SW_SECRET, now=now
    )
    lib = standardwebhooks.Webhook(SW_SECRET)
    assert lib.verify(msg.body, dict(msg.headers))
    assert webhooks.verify(msg, "auto", SW_SECRET).status == "valid"
    changed = edited(msg, b'{"x":1}')
    assert webhooks.verify(changed, "standard", SW_SECRET).status == "invalid"
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        lib.verify(changed.body, dict(changed.headers))


def test_standard_webhooks_stale_rejected_by_library() -> None:
    old = datetime.now(timezone.utc) - timedelta(hours=1)
    msg = webhooks.sign(message(headers=[("webhook-id", "msg_1")]), "standard", SW_SECRET, now=old)
    assert (
        webhooks.verify(msg, "standard", SW_SECRET, now=datetime.now(timezone.utc)).status
        == "stale"
    )
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(SW_SECRET).verify(msg.body, dict(msg.headers))


def test_standard_webhooks_secret_format() -> None:
    msg = message(
        headers=[("webhook-id", "m"), ("webhook-timestamp", "1"), ("webhook-signature", "v1,AA==")]
    )
    with pytest.raises(UsageError) as e:
        webhooks.verify(msg, "standard", "whsec_!!not base64!!")
    assert "whsec_" in (e.value.hint or "") and "not base64!!" not in str(e.value)


# --- Slack ---------------------------------------------------------------------------


class FixedClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


def test_slack_sign_accepted_by_slack_sdk() -> None:
    msg = webhooks.sign(message(b"token=x&team_id=T1"), "slack", "slack-secret", now=NOW)
    verifier = SignatureVerifier("slack-secret", clock=FixedClock(NOW.timestamp()))  # type: ignore[arg-type]
    ts, sig = msg.header("X-Slack-Request-Timestamp"), msg.header("X-Slack-Signature")
    assert verifier.is_valid(msg.body, ts, sig)  # type: ignore[arg-type]
    assert webhooks.verify(msg, "auto", "slack-secret").status == "valid"
    changed = edited(msg, b"token=y&team_id=T1")
    assert webhooks.verify(changed, "slack", "slack-secret").status == "invalid"
    assert not verifier.is_valid(changed.body, ts, sig)  # type: ignore[arg-type]
    later = FixedClock(NOW.timestamp() + 600)
    assert not SignatureVerifier("slack-secret", clock=later).is_valid(msg.body, ts, sig)  # type: ignore[arg-type]
    late = NOW + timedelta(seconds=600)
    assert webhooks.verify(msg, "slack", "slack-secret", now=late).status == "stale"


# --- Twilio --------------------------------------------------------------------------


def test_twilio_form_signature_accepted_by_twilio() -> None:
    body = b"From=%2B15551234567&Body=hello+there&To=%2B15557654321"
    msg = message(body, url="https://abc.ngrok.app/sms?x=1")
    msg = SignedMessage(
        msg.method,
        msg.url,
        [("Host", "abc.ngrok.app"), ("Content-Type", "application/x-www-form-urlencoded")],
        body,
        NOW,
    )
    signed = webhooks.sign(msg, "twilio", "auth-token", now=NOW)
    params = {"From": "+15551234567", "Body": "hello there", "To": "+15557654321"}
    validator = RequestValidator("auth-token")
    assert validator.validate(signed.url, params, signed.header("X-Twilio-Signature"))
    assert webhooks.verify(signed, "twilio", "auth-token").status == "valid"
    wrong_url = webhooks.verify(signed, "twilio", "auth-token", url="https://other.example/sms?x=1")
    assert wrong_url.status == "invalid" and "--url" in (wrong_url.reason or "")
    assert not validator.validate(
        "https://other.example/sms?x=1", params, signed.header("X-Twilio-Signature")
    )


# --- Shopify, GitLab, detection, unknowns -------------------------------------------


def test_shopify_and_gitlab_round_trip() -> None:
    shop = webhooks.sign(message(), "shopify", "shpss_secret")
    assert webhooks.verify(shop, "auto", "shpss_secret").status == "valid"
    assert webhooks.verify(edited(shop, b"{}"), "shopify", "shpss_secret").status == "invalid"
    lab = message(headers=[("X-Gitlab-Token", "tok")])
    assert webhooks.verify(lab, "auto", "tok").provider == "gitlab"
    assert webhooks.verify(lab, "gitlab", "tok").status == "valid"
    assert webhooks.verify(lab, "gitlab", "nope").status == "invalid"


def test_unsigned_and_unknown_provider() -> None:
    assert webhooks.verify(message(), "auto", "s").status == "unsigned"
    assert webhooks.verify(message(), "stripe", STRIPE_SECRET).status == "unsigned"
    with pytest.raises(UsageError):
        webhooks.verify(message(), "paypal", "s")
    assert webhooks.get_provider("Svix").name == "standard"


def test_results_never_contain_the_secret() -> None:
    secret = "whsec_supersecretvalue"
    for name in webhooks.PROVIDERS:
        if name == "standard":
            continue
        msg = webhooks.sign(message(), name, secret, now=NOW)
        for judged in (msg, edited(msg, b"changed")):
            r = webhooks.verify(judged, name, secret)
            assert "supersecret" not in repr(r) and "supersecret" not in str(r.to_dict())


def test_clock_is_not_consulted_for_arrival_judgement() -> None:
    # signed and arrived long ago: the default judges as the receiver saw it
    then = datetime.fromtimestamp(time.time() - 86400, tz=timezone.utc)
    msg = webhooks.sign(message(arrived=then), "stripe", STRIPE_SECRET, now=then)
    assert webhooks.verify(msg, "stripe", STRIPE_SECRET).status == "valid"
    assert (
        webhooks.verify(msg, "stripe", STRIPE_SECRET, now=datetime.now(timezone.utc)).status
        == "stale"
    )
