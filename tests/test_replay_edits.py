"""``replay`` with edits, --to, --dry-run, --resign and --edit, against a recording upstream."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import stripe

from tests.cli_invoke import invoke

SECRET = "whsec_replay_secret"


class Recorder:
    """An HTTP/1.1 upstream on 127.0.0.1 that keeps the exact bytes of each request."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.received: list[bytes] = []
        self.got = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, rest = data.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v.strip())
                while len(rest) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    rest += chunk
                self.received.append(head + b"\r\n\r\n" + rest)
                conn.sendall(
                    b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                )
                self.got.set()

    def last(self) -> tuple[list[bytes], bytes]:
        head, _, body = self.received[-1].partition(b"\r\n\r\n")
        return head.split(b"\r\n"), body

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    r = Recorder()
    yield r
    r.close()


def stripe_sig(body: bytes, ts: int) -> str:
    return (
        f"t={ts},v1="
        + hmac.new(SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    )


def capture(local_agent: Any, path: str, body: bytes, headers: dict[str, str]) -> str:
    pub = local_agent.tunnels[0].public_url
    requests.post(pub.rstrip("/") + path, data=body, headers=headers, timeout=10)
    r = invoke(
        ["requests", "list", "-q", "--path", path.split("?")[0], "--api-url", local_agent.api_url]
    )
    return r.stdout.split()[0]


BODY = b'{"type":"invoice.paid","data":{"amount":1200,"items":[1,2]}}'


def test_every_edit_option_reaches_the_upstream(
    local_agent: Any, recorder: Recorder, tmp_path: Any
) -> None:
    rid = capture(
        local_agent, "/hook?a=1&b=2", BODY, {"Content-Type": "application/json", "X-Keep": "Same"}
    )
    api = local_agent.api_url
    r = invoke([
        "replay", rid, "--to", recorder.url, "--method", "put", "--query", "a=9",
        "--query-del", "b",
        "-H", "X-New: yes", "--del-header", "X-Keep", "--json-set", "data.amount=1300",
        "--json-set", "data.items[1]=\"two\"", "--api-url", api,
    ])  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert r.stdout.split("\t")[:2] == ["-", "202"]
    lines, body = recorder.last()
    assert lines[0] == b"PUT /hook?a=9 HTTP/1.1"
    names = [ln.split(b":")[0] for ln in lines[1:]]
    assert b"X-Keep" not in names and b"X-New: yes" in lines
    assert json.loads(body) == {
        "type": "invoice.paid",
        "data": {"amount": 1300, "items": [1, "two"]},
    }
    assert f"Content-Length: {len(body)}".encode() in lines

    # --path, --body @file, --form-set
    f = tmp_path / "b.txt"
    f.write_bytes(b"x=1&y=2")
    r = invoke(["replay", rid, "--to", recorder.url, "--path", "/other?q=1", "--body", f"@{f}",
                "--form-set", "y=3", "--api-url", api])  # fmt: skip
    assert r.exit_code == 0, r.stderr
    lines, body = recorder.last()
    assert lines[0] == b"POST /other?q=1 HTTP/1.1" and body == b"x=1&y=3"


def test_unedited_headers_stay_byte_for_byte(local_agent: Any, recorder: Recorder) -> None:
    pub = local_agent.tunnels[0].public_url
    with socket.create_connection(("127.0.0.1", int(pub.rsplit(":", 1)[1]))) as s:
        s.sendall(
            b"POST /raw HTTP/1.1\r\nHost: x\r\nx-lower: a\r\nX-UPPER: B\r\n"
            b"Content-Length: 2\r\n\r\nhi"
        )
        s.recv(65536)
    rid = invoke(
        ["requests", "list", "-q", "--path", "/raw", "--api-url", local_agent.api_url]
    ).stdout.split()[0]
    r = invoke(
        ["replay", rid, "--to", recorder.url, "-H", "X-Add: 1", "--api-url", local_agent.api_url]
    )
    assert r.exit_code == 0, r.stderr
    lines, body = recorder.last()
    assert lines[2:5] == [b"x-lower: a", b"X-UPPER: B", b"Content-Length: 2"] and body == b"hi"


def test_compressed_body_is_reencoded(local_agent: Any, recorder: Recorder) -> None:
    gz = gzip.compress(BODY)
    rid = capture(
        local_agent, "/gz", gz, {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    )
    r = invoke(
        [
            "replay",
            rid,
            "--to",
            recorder.url,
            "--json-set",
            'type="x"',
            "--api-url",
            local_agent.api_url,
        ]
    )
    assert r.exit_code == 0, r.stderr
    lines, body = recorder.last()
    assert b"Content-Encoding: gzip" in lines
    assert json.loads(gzip.decompress(body))["type"] == "x"


def test_resign_is_accepted_by_stripe_and_warns_without(
    local_agent: Any, recorder: Recorder
) -> None:
    old = int(time.time()) - 3600
    rid = capture(
        local_agent,
        "/stripe",
        BODY,
        {"Content-Type": "application/json", "Stripe-Signature": stripe_sig(BODY, old)},
    )
    api = local_agent.api_url
    r = invoke(
        ["replay", rid, "--to", recorder.url, "--json-set", "data.amount=5", "--api-url", api]
    )
    assert r.exit_code == 0 and "will reject" in r.stderr and "--resign stripe" in r.stderr
    r = invoke(["replay", rid, "--to", recorder.url, "--json-set", "data.amount=5",
                "--resign", "stripe",
                "--secret-env", "S", "--api-url", api], env={"S": SECRET})  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert "will reject" not in r.stderr and SECRET not in r.stdout + r.stderr
    lines, body = recorder.last()
    sig = (
        next(ln for ln in lines if ln.lower().startswith(b"stripe-signature:"))
        .split(b":", 1)[1]
        .strip()
    )
    stripe.WebhookSignature.verify_header(body.decode(), sig.decode(), SECRET, tolerance=300)
    assert json.loads(body)["data"]["amount"] == 5


def test_dry_run_redacts_and_sends_nothing(local_agent: Any, recorder: Recorder) -> None:
    rid = capture(
        local_agent,
        "/dry",
        BODY,
        {"Authorization": "Bearer top-secret", "Stripe-Signature": "t=1,v1=ab"},
    )
    r = invoke(["replay", rid, "--dry-run", "-H", "X-A: 1", "--api-url", local_agent.api_url])
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("POST /dry HTTP/1.1\n") and "X-A: 1" in r.stdout
    assert "top-secret" not in r.stdout and "Authorization: [REDACTED]" in r.stdout
    r = invoke(["replay", rid, "--dry-run", "--json", "--api-url", local_agent.api_url])
    doc = json.loads(r.stdout)
    assert doc["method"] == "POST" and doc["body"] == BODY.decode()
    assert recorder.received == []


def test_default_goes_through_the_tunnel_and_is_captured(local_agent: Any) -> None:
    rid = capture(local_agent, "/via", BODY, {"Content-Type": "application/json"})
    r = invoke(["replay", rid, "--query", "again=1", "--json", "--api-url", local_agent.api_url])
    assert r.exit_code == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["id"] and rec["id"] != rid and rec["replay_of"] == rid
    shown = invoke(["requests", "show", rec["id"], "--json", "--api-url", local_agent.api_url])
    assert json.loads(shown.stdout)["uri"] == "/via?again=1"


def test_edit_with_scripted_editor(local_agent: Any, recorder: Recorder, tmp_path: Any) -> None:
    rid = capture(local_agent, "/ed", BODY, {"Content-Type": "application/json"})
    script = tmp_path / "ed.py"
    script.write_text(
        "import sys\np = sys.argv[1]\nt = open(p).read()\n"
        "t = t.replace('POST /ed', 'PATCH /edited').replace('1200', '42')\nopen(p, 'w').write(t)\n"
    )
    editor = f"{sys.executable} {script}"
    r = invoke(
        ["replay", rid, "--edit", "--to", recorder.url, "--api-url", local_agent.api_url],
        env={"VISUAL": editor},
    )
    assert r.exit_code == 0, r.stderr
    lines, body = recorder.last()
    assert lines[0] == b"PATCH /edited HTTP/1.1" and b'"amount":42' in body
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nopen(sys.argv[1], 'w').write('garbage\\n')\n")
    r = invoke(["replay", rid, "--edit", "--to", recorder.url, "--api-url", local_agent.api_url],
               env={"VISUAL": f"{sys.executable} {bad}"})  # fmt: skip
    assert r.exit_code == 2 and "line 1" in r.stderr
    r = invoke(
        ["replay", rid, "--edit", "--api-url", local_agent.api_url],
        env={"VISUAL": None, "EDITOR": None},
    )
    assert r.exit_code == 2 and "EDITOR" in r.stderr


def test_bad_edits_exit_2(local_agent: Any) -> None:
    rid = capture(local_agent, "/bad", BODY, {"Content-Type": "application/json"})
    api = local_agent.api_url
    for args, words in [
        (["--json-set", "data.missing.x=1"], "no data.missing"),
        (["--json-set", "data.items[5]=1"], "no data.items[5]"),
        (["--json-set", "data.amount={nope"], "not valid JSON"),
        (["--resign", "paypal", "--secret", "s"], "unknown webhook provider"),
        (["--resign", "standard", "--secret", "whsec_%%%"], "whsec_"),
        (["-H", "NoColon"], "Name: value"),
    ]:
        r = invoke(["replay", rid, "--to", "http://127.0.0.1:9", *args, "--api-url", api])
        assert r.exit_code == 2, (args, r.stderr)
        assert words in r.stderr and r.stdout == ""
        assert "%%%" not in r.stderr


def test_replay_all_oldest_first_summary_and_expect_status(
    local_agent: Any, recorder: Recorder
) -> None:
    api = local_agent.api_url
    for n in range(3):
        capture(local_agent, f"/bulk/{n}", b'{"n":%d}' % n, {"Content-Type": "application/json"})
    capture(local_agent, "/other", b"{}", {"Content-Type": "application/json"})
    where = 'path ~ "/bulk/*"'
    r = invoke(["replay", "--all", "--where", where, "--to", recorder.url, "-H", "X-Bulk: 1",
                "--expect-status", "2xx", "--api-url", api])  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert [ln.split(b" ")[1] for ln in (rec.split(b"\r\n")[0] for rec in recorder.received)] == [
        b"/bulk/0", b"/bulk/1", b"/bulk/2",
    ]  # fmt: skip
    assert "Replayed 3 of 3; statuses 2xx: 3; failures 0" in r.stderr
    r = invoke(["replay", "--all", "--where", where, "--to", recorder.url, "--expect-status", "200",
                "--fail-fast", "--api-url", api])  # fmt: skip
    assert r.exit_code == 6 and "Replayed 1 of 3" in r.stderr
    r = invoke(
        ["replay", "--all", "--where", where, "--to", recorder.url, "--json", "--api-url", api]
    )
    assert r.exit_code == 0 and len(json.loads(r.stdout)) == 3
    r = invoke(["replay", "last", "--all", "--api-url", api])
    assert r.exit_code == 2
    r = invoke(["replay", "last", "--delay", "1", "--api-url", api])
    assert r.exit_code == 2 and "--all" in r.stderr
    r = invoke(
        ["replay", "--all", "--expect-status", "2yy", "--to", recorder.url, "--api-url", api]
    )
    assert r.exit_code == 2


def test_dry_run_curl_is_redacted_and_runnable_shape(local_agent: Any, recorder: Recorder) -> None:
    rid = capture(
        local_agent, "/curl", BODY, {"Authorization": "Bearer top-secret", "X-Gitlab-Token": "glt"}
    )
    api = local_agent.api_url
    r = invoke(
        ["replay", rid, "--dry-run", "--format", "curl", "--to", recorder.url, "--api-url", api]
    )
    assert r.exit_code == 0, r.stderr
    assert "curl " in r.stdout and f"{recorder.url}/curl" in r.stdout
    assert "top-secret" not in r.stdout and "glt'" not in r.stdout
    host = recorder.url.split("//")[1]
    r = invoke(["replay", rid, "--dry-run", "--to", recorder.url, "--api-url", api])
    assert f"Host: {host}" in r.stdout and "X-Gitlab-Token: [REDACTED]" in r.stdout.replace(
        "[redacted]", "[REDACTED]"
    )
    r = invoke(["replay", rid, "--format", "curl", "--api-url", api])
    assert r.exit_code == 2 and "--dry-run" in r.stderr
    assert recorder.received == []


def _captured(raw: bytes) -> Any:
    import base64

    from ngrok_inspect.models import CapturedRequest

    return CapturedRequest(
        {
            "id": "airt_x",
            "start": "2026-12-01T00:00:00Z",
            "request": {"method": "POST", "uri": "/t", "raw": base64.b64encode(raw).decode()},
        }
    )


def test_truncated_body_refused_unless_replaced() -> None:
    from ngrok_inspect.errors import UsageError
    from ngrok_inspect.replay import Edits, prepare

    req = _captured(b'POST /t HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"a":1')
    with pytest.raises(UsageError, match="capture limit"):
        prepare(req, Edits(json_set=[("a", "2")]))
    with pytest.raises(UsageError, match="capture limit"):
        prepare(req, Edits(headers_set=[("X", "1")]))
    out = prepare(req, Edits(body=b'{"a":2}'))
    headers, body, _ = out.wire()
    assert body == b'{"a":2}' and ("Content-Length", "7") in headers


def test_chunked_capture_is_sent_dechunked_with_length() -> None:
    from ngrok_inspect.replay import prepare

    req = _captured(b"POST /t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    headers, body, _ = prepare(req).wire()
    assert body == b"abc" and headers == [("Content-Length", "3")]


def test_json_set_keeps_the_body_style() -> None:
    from ngrok_inspect.replay.edits import dump_like

    pretty = b'{\n  "id": "evt_1",\n  "data": {\n    "amount": 1200\n  }\n}\n'
    assert dump_like({"id": "evt_1", "data": {"amount": 1300}}, pretty) == pretty.replace(
        b"1200", b"1300"
    )
    spaced = b'{"a": 1, "b": [1, 2]}'
    assert dump_like({"a": 2, "b": [1, 2]}, spaced) == b'{"a": 2, "b": [1, 2]}'
    compact = b'{"a":"\\u00e9"}'
    assert dump_like({"a": "\u00e9x"}, compact) == b'{"a":"\\u00e9x"}'


def test_resign_twilio_with_url_is_accepted_by_twilio(local_agent: Any, recorder: Recorder) -> None:
    from urllib.parse import parse_qsl

    from twilio.request_validator import RequestValidator

    form = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "old"}
    rid = capture(local_agent, "/sms", b"From=%2B1555&Body=hi", form)
    url = "https://example.ngrok.app/sms"
    api = local_agent.api_url
    r = invoke(["replay", rid, "--to", recorder.url, "--form-set", "Body=changed", "--resign",
                "twilio", "--secret", "auth-token", "--url", url, "--api-url", api])  # fmt: skip
    assert r.exit_code == 0, r.stderr
    lines, body = recorder.last()
    sig = (
        next(ln for ln in lines if ln.startswith(b"X-Twilio-Signature:")).split(b":", 1)[1].strip()
    )
    params = dict(parse_qsl(body.decode()))
    assert params["Body"] == "changed"
    assert RequestValidator("auth-token").validate(url, params, sig.decode())


def test_edit_parse_error_offers_to_reopen_on_a_terminal(
    local_agent: Any, recorder: Recorder, tmp_path: Any
) -> None:
    """On a terminal a buffer that does not parse says where and asks to re-open; 'y'
    opens the editor again, and the second, valid buffer is what gets sent."""
    import os
    import subprocess

    pty = pytest.importorskip("pty")
    rid = capture(local_agent, "/again", BODY, {"Content-Type": "application/json"})
    script = tmp_path / "ed.py"
    script.write_text(
        "import pathlib, sys\n"
        f"n = pathlib.Path({str(tmp_path / 'count')!r})\n"
        "k = int(n.read_text()) if n.exists() else 0\n"
        "n.write_text(str(k + 1))\n"
        "p = pathlib.Path(sys.argv[1])\n"
        f"keep = pathlib.Path({str(tmp_path / 'first')!r})\n"
        "if k == 0:\n"
        "    keep.write_text(p.read_text())\n"  # re-opening shows the broken text: fix it whole
        "t = keep.read_text().replace('POST /again', 'PUT /fixed')\n"
        "p.write_text('garbage\\n' if k == 0 else t)\n"
    )
    leader, follower = pty.openpty()
    env = {**os.environ, "VISUAL": f"{sys.executable} {script}", "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ngrok_inspect", "replay", rid, "--edit", "--to", recorder.url,
         "--api-url", local_agent.api_url],
        stdin=follower, stdout=follower, stderr=follower, env=env,
    )  # fmt: skip
    os.close(follower)
    seen = b""
    try:
        while b"[Y/n]" not in seen:  # the prompt: the command waits for our answer
            chunk = os.read(leader, 4096)
            assert chunk, seen
            seen += chunk
        assert b"line 1" in seen
        os.write(leader, b"y\n")
        rest: list[bytes] = []

        def drain() -> None:  # keep reading: a full terminal buffer would block the child
            try:
                while chunk := os.read(leader, 4096):
                    rest.append(chunk)
            except OSError:  # EIO once the child's side is closed
                pass

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            raise AssertionError((seen + b"".join(rest)).decode(errors="replace")) from None
        reader.join(timeout=10)
        assert code == 0, seen + b"".join(rest)
    finally:
        proc.kill()
        proc.wait()
        os.close(leader)
    assert (tmp_path / "count").read_text() == "2"
    lines, _ = recorder.last()
    assert lines[0] == b"PUT /fixed HTTP/1.1"
