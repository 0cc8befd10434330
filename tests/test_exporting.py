"""The export writers (json, ndjson, raw, HAR 1.2, curl) and redaction, on recorded captures."""

from __future__ import annotations

import base64
import gzip
import json
import shlex
from typing import Any

import pytest
from haralyzer import HarEntry, HarParser

from ngrok_inspect.export import FORMATS, render_export
from ngrok_inspect.models import CapturedRequest
from ngrok_inspect.redaction import DEFAULT_POLICY, REDACTED, redact_agent_object, redact_raw
from tests.support.servers import WEBHOOK_ID, load_json

PUBLIC = {"web": "https://abc123.ngrok.app"}
GZIP_ID = "airt_3Mk9EnKfW6Rd4kScjKqVMx4aICv"
HEADERS_ID = "airt_3Mk9FXDY0Gnk2Ijxp52yzUcyGsh"

SECRETS = {
    "Authorization": "Bearer tok-AUTH-1111",
    "Proxy-Authorization": "Basic cHJveHk6UFJPWFktMjIyMg==",
    "Cookie": "session=COOKIE-3333",
    "X-Api-Key": "APIKEY-4444",
    "X-Hub-Signature-256": "sha256=SIG-5555",
    "stripe-signature": "t=1,v1=SIG-6666",
}
RESPONSE_SECRET = ("Set-Cookie", "sid=SETCOOKIE-7777; Path=/; HttpOnly")
SECRET_VALUES = ["tok-AUTH-1111", "COOKIE-3333", "APIKEY-4444", "SIG-5555",
                 "SIG-6666", "SETCOOKIE-7777", "cHJveHk6UFJPWFktMjIyMg"]  # fmt: skip


def recorded() -> list[CapturedRequest]:
    return [CapturedRequest.from_api(d) for d in load_json("requests")["requests"]]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def secret_capture(body: bytes = b'{"a":1}') -> dict[str, Any]:
    """An agent object (the real agent's shape) whose headers carry every kind of secret."""
    req_headers = [
        ("Host", "abc123.ngrok.app"),
        ("User-Agent", "t/1"),
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
    ]
    req_headers += list(SECRETS.items())
    raw_req = b"POST /hook?x=1 HTTP/1.1\r\n"
    raw_req += b"".join(f"{k}: {v}\r\n".encode() for k, v in req_headers) + b"\r\n" + body
    resp_body = b"ok"
    resp_headers = [("Content-Type", "text/plain"), ("Content-Length", "2"), RESPONSE_SECRET]
    raw_resp = b"HTTP/1.1 200 OK\r\n"
    raw_resp += b"".join(f"{k}: {v}\r\n".encode() for k, v in resp_headers) + b"\r\n" + resp_body
    canon = {k.title() if k.islower() else k: [v] for k, v in req_headers}
    return {
        "uri": "/api/requests/http/airt_secret",
        "id": "airt_secret",
        "tunnel_name": "web",
        "remote_addr": "203.0.113.9",
        "start": "2026-11-28T16:40:00Z",
        "duration": 2_500_000,
        "request": {
            "method": "POST",
            "proto": "HTTP/1.1",
            "headers": canon,
            "uri": "/hook?x=1",
            "raw": _b64(raw_req),
        },
        "response": {
            "status": "200 OK",
            "status_code": 200,
            "proto": "HTTP/1.1",
            "headers": {k: [v] for k, v in resp_headers},
            "raw": _b64(raw_resp),
        },
    }


def all_text(out: str, fmt: str) -> str:
    """The export, with the base64 raw bytes of the raw format decoded and appended."""
    if fmt != "raw":
        return out
    extra = []
    for obj in json.loads(out):
        for side in ("request", "response"):
            if obj.get(side):
                extra.append(base64.b64decode(obj[side]["raw"]).decode("latin-1"))
    return out + "\n".join(extra)


# -- redaction ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "secret"),
    [("Authorization", True), ("proxy-authorization", True), ("COOKIE", True),
     ("Set-Cookie", True), ("x-api-key", True), ("X-Hub-Signature", True),
     ("Stripe-Signature", True), ("X-Hub-Signature-256", True),
     ("X-Signature-Version", True), ("Content-Type", False),
     ("Cookie2", True), ("X-Api-Key-Id", True), ("Accept", False), ("Host", False)],
)  # fmt: skip
def test_sensitive_header_names(name: str, secret: bool) -> None:
    assert DEFAULT_POLICY.is_secret_header(name) is secret


def test_redact_raw_message_changes_only_secret_values() -> None:
    raw = (
        b"POST /x HTTP/1.1\r\nHost: h\r\nauthorization: Bearer abc\r\n"
        b"X-Hub-Signature-256: sha256=ff\r\nX-Keep: yes\r\nContent-Length: 5\r\n\r\n"
        b"Cookie: not-a-header\r\n"
    )[:-2]
    out, n = redact_raw(raw)
    assert n == 2
    assert out == (
        b"POST /x HTTP/1.1\r\nHost: h\r\nauthorization: [REDACTED]\r\n"
        b"X-Hub-Signature-256: [REDACTED]\r\nX-Keep: yes\r\nContent-Length: 5\r\n\r\n"
        b"Cookie: not-a-header"
    )


def test_redact_raw_message_drops_folded_continuation_and_keeps_bare_lf() -> None:
    raw = b"GET / HTTP/1.1\nCookie: a=1;\n b=SECRET\nX: 1\n\n"
    assert redact_raw(raw)[0] == b"GET / HTTP/1.1\nCookie: [REDACTED]\nX: 1\n\n"


def test_redact_raw_message_without_secrets_is_identical() -> None:
    raw = base64.b64decode(load_json("request-by-id")["request"]["raw"])
    assert redact_raw(raw)[0] is raw


def test_redact_agent_object_does_not_touch_the_original() -> None:
    obj = secret_capture()
    before = json.dumps(obj)
    red, count = redact_agent_object(obj)
    assert count >= 2
    assert json.dumps(obj) == before
    assert red["request"]["headers"]["Authorization"] == [REDACTED]
    assert red["response"]["headers"]["Set-Cookie"] == [REDACTED]
    assert red["request"]["headers"]["User-Agent"] == ["t/1"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_redacts_by_default(fmt: str) -> None:
    reqs = [CapturedRequest.from_api(secret_capture(bytes(range(256))))]
    out = all_text(render_export(reqs, fmt, public_urls=PUBLIC), fmt)
    leaked = [s for s in SECRET_VALUES if s in out]
    assert leaked == []
    assert REDACTED in out
    kept = all_text(render_export(reqs, fmt, redact=False, public_urls=PUBLIC), fmt)
    expected = [s for s in SECRET_VALUES if not (fmt == "curl" and "SETCOOKIE" in s)]
    assert [s for s in expected if s not in kept] == []  # curl holds no response


def test_redacted_raw_keeps_body_and_content_length_consistent() -> None:
    body = bytes(range(256)) * 3
    [red] = json.loads(render_export([CapturedRequest.from_api(secret_capture(body))], "raw"))
    raw = base64.b64decode(red["request"]["raw"])
    assert raw.endswith(b"\r\n\r\n" + body)
    parsed = CapturedRequest.from_api(red)
    assert parsed.request.body.data == body
    assert not parsed.request.body.truncated
    assert parsed.request.header("X-Api-Key") == REDACTED


# -- json / ndjson / raw -------------------------------------------------------------------


def test_json_is_the_records_in_agent_order() -> None:
    reqs = recorded()
    out = json.loads(render_export(reqs, "json", redact=False))
    assert out == [r.to_dict() for r in reqs]
    assert out[0]["id"] == "airt_3Mk9FnMCUO6FVwLDSH9S0NIhaMS"  # newest first, as served


def test_json_redacted_differs_only_in_secret_headers() -> None:
    reqs = recorded()
    plain = {r["id"]: r for r in json.loads(render_export(reqs, "json", redact=False))}
    red = {r["id"]: r for r in json.loads(render_export(reqs, "json"))}
    assert red[HEADERS_ID]["request"]["headers"]["Cookie"] == [REDACTED]
    assert red[HEADERS_ID]["response"]["headers"]["Set-Cookie"] == [REDACTED, REDACTED]
    assert plain[HEADERS_ID]["response"]["headers"]["Set-Cookie"] == ["a=1; Path=/", "b=2; Path=/"]
    for rid in plain:
        if rid != HEADERS_ID:
            assert red[rid] == plain[rid]


def test_ndjson_one_compact_record_per_line() -> None:
    reqs = recorded()
    out = render_export(reqs, "ndjson", redact=False)
    lines = out.split("\n")
    assert lines[-1] == ""
    assert [json.loads(ln) for ln in lines[:-1]] == [r.to_dict() for r in reqs]
    assert render_export([], "ndjson") == ""


def test_raw_is_the_agent_objects_exactly_as_served() -> None:
    served = load_json("requests")["requests"]
    out = render_export(recorded(), "raw", redact=False)
    assert json.loads(out) == served
    red = json.loads(render_export(recorded(), "raw"))
    entry = next(e for e in red if e["id"] == HEADERS_ID)
    raw = base64.b64decode(entry["request"]["raw"])
    assert b"Cookie: [REDACTED]\r\n" in raw and b"c1=v1\r\n" not in raw
    resp = base64.b64decode(entry["response"]["raw"])
    assert resp.count(b"Set-Cookie: [REDACTED]\r\n") == 2
    assert set(entry) == set(served[0])


def test_unknown_format_is_a_usage_error() -> None:
    from ngrok_inspect.errors import UsageError

    with pytest.raises(UsageError, match="unknown export format 'xml'") as info:
        render_export(recorded(), "xml")
    assert info.value.exit_code == 2


# -- HAR 1.2 ---------------------------------------------------------------------------


def _check_fields(
    obj: dict[str, Any], spec: dict[str, type | tuple[type, ...]], where: str
) -> None:
    for key, typ in spec.items():
        assert key in obj, f"{where}: missing required {key!r}"
        assert isinstance(obj[key], typ), f"{where}.{key}: {type(obj[key]).__name__}"


def _check_name_values(items: list[Any], where: str) -> None:
    for i, item in enumerate(items):
        _check_fields(item, {"name": str, "value": str}, f"{where}[{i}]")


ENTRY_KEYS = {"pageref", "startedDateTime", "time", "request", "response", "cache", "timings",
              "serverIPAddress", "connection", "comment"}  # fmt: skip


def check_har_1_2(doc: dict[str, Any]) -> None:
    """The required fields and types of HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/)."""
    num = (int, float)
    log = doc["log"]
    _check_fields(log, {"version": str, "creator": dict, "entries": list}, "log")
    assert log["version"] == "1.2"
    _check_fields(log["creator"], {"name": str, "version": str}, "log.creator")
    for i, e in enumerate(log["entries"]):
        w = f"entries[{i}]"
        _check_fields(e, {"startedDateTime": str, "time": num, "request": dict,
                          "response": dict, "cache": dict, "timings": dict}, w)  # fmt: skip
        for key in e:
            assert key in ENTRY_KEYS or key.startswith("_"), f"{w}: non-standard key {key!r}"
        req, resp, t = e["request"], e["response"], e["timings"]
        _check_fields(req, {"method": str, "url": str, "httpVersion": str, "cookies": list,
                            "headers": list, "queryString": list, "headersSize": int,
                            "bodySize": int}, w + ".request")  # fmt: skip
        assert req["url"].startswith(("http://", "https://"))
        _check_name_values(req["headers"], w + ".request.headers")
        _check_name_values(req["queryString"], w + ".request.queryString")
        _check_name_values(req["cookies"], w + ".request.cookies")
        if "postData" in req:
            _check_fields(req["postData"], {"mimeType": str}, w + ".request.postData")
            for p in req["postData"].get("params", []):
                _check_fields(p, {"name": str}, w + ".postData.params")
        _check_fields(resp, {"status": int, "statusText": str, "httpVersion": str,
                             "cookies": list, "headers": list, "content": dict,
                             "redirectURL": str, "headersSize": int, "bodySize": int},
                      w + ".response")  # fmt: skip
        _check_name_values(resp["headers"], w + ".response.headers")
        _check_name_values(resp["cookies"], w + ".response.cookies")
        c = resp["content"]
        _check_fields(c, {"size": int, "mimeType": str}, w + ".response.content")
        if "encoding" in c:
            assert c["encoding"] == "base64"
        _check_fields(t, {"send": num, "wait": num, "receive": num}, w + ".timings")
        parts = [t[k] for k in ("blocked", "dns", "connect", "send", "wait", "receive")
                 if t.get(k, -1) != -1]  # fmt: skip
        assert sum(parts) == pytest.approx(e["time"]), w + ": timings do not add up to time"


def test_har_is_valid_1_2_and_opens_in_haralyzer() -> None:
    reqs = recorded()
    doc = json.loads(render_export(reqs, "har", public_urls=PUBLIC))
    check_har_1_2(doc)
    parser = HarParser(doc)
    assert parser.version == "1.2"
    assert parser.creator["name"] == "ngrok-inspect"
    [page] = parser.pages  # entries without a page land on haralyzer's "unknown" page
    assert len(page.entries) == len(reqs)
    by_id = {r.id: r for r in reqs}
    starts = []
    for raw_entry in doc["log"]["entries"]:
        entry = HarEntry(raw_entry)
        orig = by_id[raw_entry["_id"]]
        assert entry.url == "https://abc123.ngrok.app" + orig.request.uri
        assert entry.request.method == orig.method
        assert entry.response.status == orig.status_code
        assert entry.time == pytest.approx(orig.duration_ms, abs=5e-4)
        starts.append(entry.startTime)
    assert starts == sorted(starts)  # chronological
    assert doc["log"]["entries"][0]["_id"] == "airt_3Mk9EKn48AcK9qzJO1n2D50Q0kD"


def test_har_bodies_query_and_cookies() -> None:
    doc = json.loads(render_export(recorded(), "har", redact=False, public_urls=PUBLIC))
    entries = {e["_id"]: e for e in doc["log"]["entries"]}
    hook = entries[WEBHOOK_ID]
    assert hook["request"]["postData"]["mimeType"] == "application/json"
    assert json.loads(hook["request"]["postData"]["text"])["event"] == "push"
    assert hook["response"]["redirectURL"] == "/webhook/1"
    assert hook["response"]["statusText"] == "Created"
    assert hook["request"]["queryString"] == [{"name": "source", "value": "test"}]
    form = entries["airt_3Mk9Ed1QaLwB54xT8JfuKeBaPAV"]["request"]["postData"]
    assert {"name": "note", "value": "a&b=c"} in form["params"]
    hdrs = entries[HEADERS_ID]
    assert hdrs["request"]["cookies"] == [{"name": "c1", "value": "v1"}]
    assert hdrs["response"]["cookies"] == [
        {"name": "a", "value": "1", "path": "/"},
        {"name": "b", "value": "2", "path": "/"},
    ]
    multi = [h["value"] for h in hdrs["request"]["headers"] if h["name"] == "X-Multi"]
    assert multi == ["first", "second"]


def test_har_content_is_decoded_with_compression_noted() -> None:
    reqs = recorded()
    gz = next(r for r in reqs if r.id == GZIP_ID)
    doc = json.loads(render_export([gz], "har", public_urls=PUBLIC))
    content = doc["log"]["entries"][0]["response"]["content"]
    wire = gz.response.body.wire if gz.response else b""
    assert content["text"] == gzip.decompress(wire).decode()
    assert content["size"] == len(gzip.decompress(wire))
    assert content["compression"] == content["size"] - len(wire)
    assert doc["log"]["entries"][0]["response"]["bodySize"] == len(wire)


def test_har_binary_bodies_are_base64() -> None:
    body = bytes(range(256))
    obj = secret_capture(body)
    obj["request"]["headers"]["Content-Type"] = ["application/octet-stream"]
    raw = base64.b64decode(obj["request"]["raw"]).replace(
        b"Content-Type: application/json", b"Content-Type: application/octet-stream"
    )
    obj["request"]["raw"] = _b64(raw)
    resp_raw = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 256\r\n\r\n" + body
    obj["response"]["raw"] = _b64(resp_raw)
    doc = json.loads(render_export([CapturedRequest.from_api(obj)], "har"))
    check_har_1_2(doc)
    entry = doc["log"]["entries"][0]
    content = entry["response"]["content"]
    assert content["encoding"] == "base64"
    assert base64.b64decode(content["text"]) == body
    assert content["size"] == 256 and content["mimeType"] == "image/png"
    post = entry["request"]["postData"]
    assert post["_encoding"] == "base64" and base64.b64decode(post["text"]) == body
    # no public URL for the tunnel: the Host header gives the origin
    assert entry["request"]["url"] == "http://abc123.ngrok.app/hook?x=1"


def test_har_pending_request_has_status_zero() -> None:
    obj = secret_capture()
    obj["response"] = None
    doc = json.loads(render_export([CapturedRequest.from_api(obj)], "har"))
    check_har_1_2(doc)
    assert doc["log"]["entries"][0]["response"]["status"] == 0


# -- curl ------------------------------------------------------------------------------


def test_curl_one_command_per_request_oldest_first() -> None:
    reqs = recorded()
    out = render_export(reqs, "curl", public_urls=PUBLIC)
    assert out.startswith("#!/bin/sh\n")
    heredoc = "base64 -d <<'NGROK_INSPECT_BODY' | "
    cmds = [
        ln.removeprefix(heredoc) for ln in out.splitlines() if ln.startswith(("curl ", heredoc))
    ]
    assert len(cmds) == len(reqs)
    ids = [ln.split()[1] for ln in out.splitlines() if ln.startswith("# airt_")]
    assert ids == [r.id for r in reversed(reqs)]  # the agent serves newest first
    hook = shlex.split(cmds[ids.index(WEBHOOK_ID)])
    assert hook[-1] == "https://abc123.ngrok.app/webhook?source=test"
    assert hook[hook.index("--data-raw") + 1] == (
        '{"event":"push","ref":"refs/heads/main","count":3,"nested":{"ok":true}}'
    )
    assert "Content-Type: application/json" in hook
    delete = shlex.split(cmds[ids.index("airt_3Mk9FcqCSVQMFBYHOydEdeJ19Ed")])
    assert delete[delete.index("--request") + 1] == "DELETE"
    headers = shlex.split(cmds[ids.index(HEADERS_ID)])
    assert headers.count("X-Multi: first") == 1 and headers.count("X-Multi: second") == 1
    assert "Cookie: [REDACTED]" in headers
    assert not any(a.lower().startswith(("host:", "content-length:")) for a in hook)
    upload = shlex.split(cmds[ids.index("airt_3Mk9EtjUWTuC3j7R2MS2h9rrQOO")])
    assert upload[upload.index("--data-binary") + 1] == "@-"  # 200 KB: too big for argv


def _capture(method: str, raw_req: bytes, uri: str = "/c") -> CapturedRequest:
    obj = secret_capture()
    obj["request"].update(method=method, uri=uri, raw=_b64(raw_req), headers={})
    return CapturedRequest.from_api(obj)


def test_curl_sends_a_chunked_body_de_chunked_and_head_with_head() -> None:
    raw = (
        b"PUT /c HTTP/1.1\r\nHost: h.example\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: text/plain\r\nX-Empty: \r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    out = render_export([_capture("PUT", raw)], "curl", redact=False)
    cmd = shlex.split(out.splitlines()[-1])
    assert cmd[cmd.index("--data-raw") + 1] == "hello world"
    assert cmd[cmd.index("--request") + 1] == "PUT"
    assert "X-Empty;" in cmd
    assert not any(a.lower().startswith("transfer-encoding") for a in cmd)
    assert cmd[-1] == "http://h.example/c"
    head = render_export([_capture("HEAD", b"HEAD /c HTTP/1.1\r\nHost: h\r\n\r\n")], "curl")
    cmd = shlex.split(head.splitlines()[-1])
    assert "--head" in cmd and "--request" not in cmd
    assert "User-Agent:" in cmd and "Accept:" in cmd  # curl's defaults removed


def test_har_multipart_params_and_decoded_request_text() -> None:
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="title"\r\n\r\nhi\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n\x00\x01\xff\r\n--XyZ--\r\n"
    )
    raw = (
        b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    doc = json.loads(render_export([_capture("POST", raw, "/up")], "har"))
    check_har_1_2(doc)
    post = doc["log"]["entries"][0]["request"]["postData"]
    assert post["mimeType"] == "multipart/form-data; boundary=XyZ"
    assert post["params"][0] == {"name": "title", "value": "hi"}
    assert post["params"][1] == {
        "name": "f",
        "fileName": "a.bin",
        "contentType": "application/octet-stream",
    }
    assert base64.b64decode(post["text"]) == body  # binary multipart: exact bytes
