"""The redaction policy (ngrok_inspect.redaction) in every export format, and on the CLI."""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
from haralyzer import HarParser

from ngrok_inspect.export import FORMATS, export
from ngrok_inspect.models import CapturedRequest
from ngrok_inspect.redaction import REDACTED, RedactionPolicy, redact_requests
from ngrok_inspect.watch import wait_for
from tests.cli_invoke import invoke
from tests.support.live import Upstream
from tests.test_exporting import check_har_1_2

SECRET = "S3CRET-VALUE-42"
CUSTOM = "CUSTOM-VALUE-7"

SECRET_HEADERS = [
    "Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key", "Api-Key", "X-Gitlab-Token",
    "X-Shopify-Hmac-Sha256", "Stripe-Signature", "X-Hub-Signature", "X-Hub-Signature-256",
    "X-Slack-Signature", "webhook-signature", "X-Twilio-Signature", "Signature",
    "Signature-Input", "X-Amz-Security-Token", "X-CSRF-Token", "X-XSRF-Token", "Private-Token",
    "X-Auth-Token", "X-Access-Token", "X-Session-Id", "X-Client-Secret", "X-Password",
]  # fmt: skip
SECRET_PARAMS = ["token", "access_token", "api_key", "apikey", "client_secret", "password",
                 "refresh_token", "X-Amz-Signature", "sig", "csrf_token"]  # fmt: skip


def capture(raw: bytes, *, uri: str | None = None) -> CapturedRequest:
    """An agent object (the real agent's shape) for request bytes ``raw``."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    method, target, _ = head[0].split(" ", 2)
    headers: dict[str, list[str]] = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k, []).append(v.strip())
    resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
    return CapturedRequest.from_api(
        {
            "uri": "/api/requests/http/airt_r",
            "id": "airt_r",
            "tunnel_name": "web",
            "remote_addr": "203.0.113.9",
            "start": "2026-11-28T16:40:00Z",
            "duration": 1_000_000,
            "request": {
                "method": method,
                "proto": "HTTP/1.1",
                "headers": headers,
                "uri": uri or target,
                "raw": base64.b64encode(raw).decode(),
            },
            "response": {
                "status": "200 OK",
                "status_code": 200,
                "proto": "HTTP/1.1",
                "headers": {"Content-Type": ["text/plain"], "Content-Length": ["2"]},
                "raw": base64.b64encode(resp).decode(),
            },
        }
    )


def post(ctype: str, body: bytes, target: str = "/hook", extra: str = "") -> CapturedRequest:
    raw = (
        f"POST {target} HTTP/1.1\r\nHost: h.example\r\nContent-Type: {ctype}\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    return capture(raw)


def everything(out: str, fmt: str) -> str:
    """The export's text plus any base64 wire bytes or bodies it carries, decoded."""
    extra = []
    if fmt == "raw":
        for obj in json.loads(out):
            for side in ("request", "response"):
                if obj.get(side) and obj[side].get("raw"):
                    extra.append(base64.b64decode(obj[side]["raw"]).decode("latin-1"))
    return out + "\n".join(extra)


def assert_redacted(req: CapturedRequest, fmt: str, expect: int = 1) -> str:
    result = export([req], fmt, public_urls={"web": "https://abc.ngrok.app"})
    text = everything(result.text, fmt)
    assert SECRET not in text
    assert REDACTED in text or "%5BREDACTED%5D" in text
    assert result.redacted == expect
    if fmt == "har":
        check_har_1_2(json.loads(result.text))
        assert len(HarParser(json.loads(result.text)).pages) >= 0
    return result.text


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", SECRET_HEADERS)
def test_every_secret_header_in_every_format(name: str, fmt: str) -> None:
    raw = f"GET /x HTTP/1.1\r\nHost: h.example\r\n{name}: {SECRET}\r\n\r\n".encode()
    assert_redacted(capture(raw), fmt)
    kept = export([capture(raw)], fmt, redact=False)
    assert SECRET in everything(kept.text, fmt) and kept.redacted == 0


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("param", SECRET_PARAMS)
def test_every_secret_query_parameter_in_every_format(param: str, fmt: str) -> None:
    raw = f"GET /cb?a=1&{param}={SECRET}&b=2 HTTP/1.1\r\nHost: h.example\r\n\r\n".encode()
    out = assert_redacted(capture(raw), fmt)
    if fmt == "har":
        entry = json.loads(out)["log"]["entries"][0]["request"]
        assert {"name": param, "value": REDACTED} in entry["queryString"]
        assert {"name": "a", "value": "1"} in entry["queryString"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_json_body_fields_at_any_depth(fmt: str) -> None:
    doc = {"user": {"name": "jo", "password": SECRET}, "items": [{"api_key": SECRET, "n": 1}],
           "client_secret": SECRET, "token_type": None}  # fmt: skip
    req = post("application/json", json.dumps(doc).encode())
    assert_redacted(req, fmt, expect=3)
    red = redact_requests([req]).requests[0]
    body = red.request.body
    assert json.loads(body.data)["user"] == {"name": "jo", "password": REDACTED}
    assert red.request.header("Content-Length") is not None
    assert red.request.header_lines[-1] == ("Content-Length", str(len(body.wire)))
    assert red.request.headers["Content-Length"] == [str(len(body.wire))]


@pytest.mark.parametrize("fmt", FORMATS)
def test_form_body_fields(fmt: str) -> None:
    req = post("application/x-www-form-urlencoded", f"a=1&password={SECRET}&b=x%26y".encode())
    assert_redacted(req, fmt)
    red = redact_requests([req]).requests[0]
    assert parse_qsl(red.request.body.data.decode()) == [
        ("a", "1"), ("password", REDACTED), ("b", "x&y")
    ]  # fmt: skip


@pytest.mark.parametrize("fmt", FORMATS)
def test_multipart_fields(fmt: str) -> None:
    body = (
        b'--BND\r\nContent-Disposition: form-data; name="user"\r\n\r\njo\r\n'
        b'--BND\r\nContent-Disposition: form-data; name="password"\r\n\r\n'
        + SECRET.encode()
        + b"\r\n--BND--\r\n"
    )
    req = post("multipart/form-data; boundary=BND", body)
    assert_redacted(req, fmt)
    red = redact_requests([req]).requests[0]
    parts = red.request.body.parts
    assert parts is not None
    assert [(p.name, p.body.text) for p in parts] == [("user", "jo"), ("password", REDACTED)]


def test_gzip_and_chunked_bodies_are_rewritten_consistently() -> None:
    plain = json.dumps({"token": SECRET, "ok": True}).encode()
    gz = gzip.compress(plain)
    req = post("application/json", gz, extra="Content-Encoding: gzip\r\n")
    red = redact_requests([req])
    assert red.count == 1
    body = red.requests[0].request.body
    assert json.loads(body.data) == {"token": REDACTED, "ok": True}
    assert SECRET.encode() not in gzip.decompress(body.wire)
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(plain), plain)
    raw = (
        b"POST /c HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunked
    )
    red2 = redact_requests([capture(raw)]).requests[0]
    assert json.loads(red2.request.body.data) == {"token": REDACTED, "ok": True}


def test_undecodable_body_is_left_and_headers_still_redacted() -> None:
    req = post(
        "application/json",
        b"\x1f\x8bnot gzip",
        extra=f"Content-Encoding: gzip\r\nX-Auth-Token: {SECRET}\r\n",
    )
    red = redact_requests([req])
    assert red.count == 1
    assert red.requests[0].request.body.wire == b"\x1f\x8bnot gzip"


def test_extra_names_and_no_false_positives() -> None:
    raw = (
        f"GET /x?mine={SECRET}&q=hello HTTP/1.1\r\nHost: h\r\nX-Custom-Id: {SECRET}\r\n"
        "Accept: */*\r\n\r\n"
    ).encode()
    assert redact_requests([capture(raw)]).count == 0
    policy = RedactionPolicy.with_names(["X-Custom-Id", "mine"])
    result = export([capture(raw)], "raw", policy=policy)
    assert result.redacted == 2 and SECRET not in everything(result.text, "raw")


def test_invalid_base64_raw_is_marked_not_silently_empty() -> None:
    req = capture(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    data = dict(req.data)
    data["request"] = dict(data["request"], raw="%%%not base64%%%")
    bad = CapturedRequest.from_api(data)
    result = export([bad], "raw")
    assert result.undecodable == ["airt_r"]
    assert json.loads(result.text)[0]["request"]["raw"] is None
    har = json.loads(export([bad], "har").text)
    assert "not valid base64" in har["log"]["entries"][0]["request"]["comment"]
    assert "not valid base64" in export([bad], "curl").text


# -- CLI, on real captures through the local agent ---------------------------------------


@pytest.fixture
def live(upstream: Upstream) -> Any:
    from ngrok_inspect.local_agent import LocalAgent

    with LocalAgent(upstream.url) as agent:
        base = agent.tunnels[0].public_url
        requests.post(
            base + f"/hook?access_token={SECRET}&page=2",
            json={"event": "x", "auth": {"password": SECRET}},
            headers={"Authorization": f"Bearer {SECRET}", "X-Custom": CUSTOM},
            timeout=10,
        )
        # the capture completes after the client has its answer: wait for it to be recorded
        wait_for(agent.api_url, count=1, include_existing=True, timeout=10)
        yield agent


def test_cli_export_counts_and_flags(live: Any) -> None:
    api = ["--api-url", live.api_url]
    r = invoke([*api, "export", "--format", "HAR"])
    assert r.exit_code == 0, r.stderr
    # the echo upstream's response repeats the secrets inside free-form strings, which no
    # policy can know (docs/export.md): the request side is what must be clean
    assert SECRET not in json.dumps(json.loads(r.stdout)["log"]["entries"][0]["request"])
    # Authorization, access_token, password (X-Custom is not secret by default)
    assert r.stderr == "Exported 1 request (har, 3 values redacted)\n"
    entry = HarParser(json.loads(r.stdout)).har_data["entries"][0]
    assert {"name": "X-Custom", "value": CUSTOM} in entry["request"]["headers"]
    r = invoke([*api, "export", "-F", "raw", "--redact", "x-custom"])
    assert r.stderr == "Exported 1 request (raw, 4 values redacted)\n"
    [obj] = json.loads(r.stdout)
    assert SECRET not in json.dumps(obj["request"]) and CUSTOM not in json.dumps(obj["request"])
    assert SECRET.encode() not in base64.b64decode(obj["request"]["raw"])
    r = invoke([*api, "export", "-F", "ndjson", "--no-redact"])
    assert r.exit_code == 0 and SECRET in r.stdout
    assert r.stderr == "Exported 1 request (ndjson, not redacted)\n"
    r = invoke([*api, "export", "--format", "xml"])
    assert r.exit_code == 2 and r.stdout == ""


def test_cli_requests_json_redact(live: Any) -> None:
    api = ["--api-url", live.api_url]
    r = invoke([*api, "requests", "list", "--json", "--redact"])
    assert r.exit_code == 0, r.stderr
    [record] = json.loads(r.stdout)
    assert SECRET not in json.dumps(record["request"]) and "[REDACTED]" in r.stdout
    assert record["uri"] == "/hook?access_token=%5BREDACTED%5D&page=2"
    assert r.stderr == "Redacted 3 values\n"
    r = invoke([*api, "requests", "show", "last", "--json", "--redact"])
    assert r.exit_code == 0 and SECRET not in json.dumps(json.loads(r.stdout)["request"])
    r = invoke([*api, "requests", "show", "last", "--json"])
    assert SECRET in json.dumps(json.loads(r.stdout)["request"])  # the user's own view
    r = invoke([*api, "requests", "show", "last", "--redact"])
    assert r.exit_code == 2


def test_export_to_dev_full_is_an_io_error(live: Any) -> None:
    exe = shutil.which("ngrok-inspect")
    assert exe is not None
    with Path("/dev/full").open("w") as full:
        done = subprocess.run(
            [exe, "--api-url", live.api_url, "export"], stdout=full, stderr=subprocess.PIPE,
            timeout=30, check=False,
        )  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "No space left on device" in err and "a bug" not in err


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_redacted_curl_script_runs_against_a_live_upstream(live: Any, upstream: Upstream) -> None:
    r = invoke(["--api-url", live.api_url, "export", "-F", "curl"])
    assert r.exit_code == 0, r.stderr
    script = r.stdout.replace(live.tunnels[0].public_url.rstrip("/"), upstream.url)
    done = subprocess.run(["sh", "-c", script], capture_output=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    echo = json.loads(done.stdout)
    assert SECRET not in json.dumps(echo["headers"]) and SECRET not in echo["query"]
    assert json.loads(echo["body"]) == {"event": "x", "auth": REDACTED}
    assert ["Authorization", REDACTED] in echo["headers"]
