"""``ngrok-inspect verify`` against the local agent with real signed deliveries."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import requests
import stripe

from tests.cli_invoke import invoke

SECRET = "whsec_cli_test_secret"


def stripe_header(body: bytes, ts: int, secret: str = SECRET) -> str:
    # computed here (not by ngrok_inspect), then checked by the stripe library itself
    sig = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    stripe.WebhookSignature.verify_header(body.decode(), f"t={ts},v1={sig}", secret, tolerance=None)
    return f"t={ts},v1={sig}"


def deliver(public_url: str, path: str, body: bytes, headers: dict[str, str]) -> None:
    r = requests.post(public_url.rstrip("/") + path, data=body, headers=headers, timeout=10)
    assert r.status_code < 600


def test_verify_table_json_and_exit_codes(local_agent: Any, tmp_path: Any) -> None:
    api, pub = local_agent.api_url, local_agent.tunnels[0].public_url
    body = b'{"type":"invoice.paid","amount":1200}'
    now = int(time.time())
    ctype = {"Content-Type": "application/json"}
    deliver(pub, "/hook/good", body, {**ctype, "Stripe-Signature": stripe_header(body, now)})
    deliver(
        pub,
        "/hook/edited",
        body.replace(b"1200", b"9"),
        {**ctype, "Stripe-Signature": stripe_header(body, now)},
    )
    deliver(
        pub, "/hook/stale", body, {**ctype, "Stripe-Signature": stripe_header(body, now - 3600)}
    )

    good = invoke(["verify", "--path", "/hook/good", "--secret", SECRET, "--api-url", api])
    assert good.exit_code == 0, good.stderr
    assert "stripe" in good.stdout and "valid" in good.stdout
    assert SECRET not in good.stdout + good.stderr

    args = ["verify", "--path", "/hook/*", "--secret-env", "HOOK_SECRET", "--json"]
    r = invoke([*args, "--api-url", api], env={"HOOK_SECRET": SECRET})
    assert r.exit_code == 6
    rows = {x["uri"]: x for x in json.loads(r.stdout)}
    assert rows["/hook/good"]["status"] == "valid"
    assert (
        rows["/hook/edited"]["status"] == "invalid"
        and "body changed" in rows["/hook/edited"]["reason"]
    )
    assert rows["/hook/stale"]["status"] == "stale" and rows["/hook/stale"]["age_s"] >= 3600
    assert "2 of 3" in r.stderr and SECRET not in r.stdout + r.stderr

    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    r = invoke(
        [
            "verify",
            "--path",
            "/hook/good",
            "--secret-file",
            str(secret_file),
            "--now",
            "--api-url",
            api,
        ]
    )
    assert r.exit_code == 0, r.stderr

    wrong = invoke(["verify", "--path", "/hook/good", "--secret", "whsec_wrong", "--api-url", api])
    assert wrong.exit_code == 6 and "whsec_wrong" not in wrong.stdout + wrong.stderr


def test_verify_bad_input_exit_2(local_agent: Any) -> None:
    api = local_agent.api_url
    r = invoke(["verify", "--provider", "paypal", "--secret", "s", "--api-url", api])
    assert r.exit_code == 2 and "unknown webhook provider" in r.stderr and r.stdout == ""
    r = invoke(["verify", "--provider", "standard", "--secret", "whsec_%%%", "--api-url", api])
    assert r.exit_code == 2 and "whsec_" in r.stderr and "%%%" not in r.stderr
    r = invoke(["verify", "--api-url", api])
    assert r.exit_code == 2 and "--secret" in r.stderr
    r = invoke(["verify", "--secret-env", "NO_SUCH_VAR_11", "--api-url", api])
    assert r.exit_code == 2 and "NO_SUCH_VAR_11" in r.stderr
