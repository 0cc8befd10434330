"""Contract tests: every recorded answer of a real ngrok 2.3.41 agent parses into models,
and the decoded values match the traffic listed in tests/fixtures/agent-2.3.41/README.md."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from ngrok_inspect.models import AgentStatus, CapturedRequest, Tunnel

FIX = Path(__file__).parent / "fixtures" / "agent-2.3.41"
WEBHOOK_ID = "airt_3Mk9EWvh4uwMcxTZaEvgQPZWnfM"

REQUEST_LISTS = {
    "requests": 12,
    "requests-limit-3": 3,
    "requests-after-replay": 13,
    "requests-after-120-tunnel-substring": 5,
    "requests-empty": 0,
    "requests-tunnel-nope": 0,
    "requests-after-delete": 0,
    "requests-after-120-limit-neg": 0,
}
TUNNEL_FILES = {"tunnels": ["web"], "tunnels-https-and-http": ["web", "web (http)"]}
ERROR_FILES = {
    "error-limit-not-int": (400, None),
    "error-replay-bad-json": (400, None),
    "error-replay-unknown-id": (404, 106),
    "error-request-not-found": (404, 106),
    "error-tunnel-not-found": (404, 100),
    "error-unknown-path": (404, None),
}
OTHER = {"api-root", "request-by-id", "tunnel-web"}


def load(name: str) -> Any:
    return json.loads((FIX / f"{name}.json").read_text())


def by_path(reqs: list[CapturedRequest]) -> dict[str, CapturedRequest]:
    return {r.path: r for r in reqs}


@pytest.fixture(scope="module")
def traffic() -> dict[str, CapturedRequest]:
    reqs = [CapturedRequest.from_api(e) for e in load("requests")["requests"]]
    return by_path(reqs)


def test_every_fixture_file_is_covered() -> None:
    names = {p.stem for p in FIX.glob("*.json")}
    covered = set(REQUEST_LISTS) | set(TUNNEL_FILES) | set(ERROR_FILES) | OTHER
    assert names == covered
    assert {p.stem for p in FIX.glob("*.http")} == names


@pytest.mark.parametrize("name", sorted(REQUEST_LISTS))
def test_request_lists_parse_every_entry(name: str) -> None:
    entries = load(name)["requests"]
    assert len(entries) == REQUEST_LISTS[name]
    reqs = [CapturedRequest.from_api(e) for e in entries]
    for r, e in zip(reqs, entries, strict=True):
        assert r.id == e["id"] and r.id.startswith("airt_")
        assert r.data == e
        assert r.start.tzinfo is not None
        assert r.duration_ns == e["duration"]
        record = r.to_dict()
        json.dumps(record)  # JSON-able
        assert record["status_code"] == e["response"]["status_code"]
    # newest first, as the agent serves it
    starts = [r.start for r in reqs]
    assert starts == sorted(starts, reverse=True)


@pytest.mark.parametrize("name", sorted(TUNNEL_FILES))
def test_tunnel_lists_parse(name: str) -> None:
    tunnels = [Tunnel.from_api(t) for t in load(name)["tunnels"]]
    assert [t.name for t in tunnels] == TUNNEL_FILES[name]
    for t in tunnels:
        assert t.addr == "http://localhost:8000"
        assert t.inspect is True
        assert t.public_url.startswith(("http://127.0.0.1:", "https://127.0.0.1:"))
        assert t.metrics_http.count >= 1
        json.dumps(t.to_dict())


def test_tunnel_metrics_in_ms_and_https_pair() -> None:
    t = Tunnel.from_api(load("tunnel-web"))
    raw = load("tunnel-web")["metrics"]
    assert t.name == "web" and t.proto == "http" and t.uri == "/api/tunnels/web"
    assert t.metrics_conns.count == raw["conns"]["count"] == 11
    assert t.metrics_conns.gauge == 0
    assert t.metrics_conns.p50_ms == pytest.approx(raw["conns"]["p50"] / 1e6)
    assert t.metrics_http.p90_ms == pytest.approx(raw["http"]["p90"] / 1e6)
    assert t.metrics_http.gauge is None  # the http set has no gauge
    assert t.metrics_http.rate1 == pytest.approx(raw["http"]["rate1"])
    pair = {x.name: x for x in map(Tunnel.from_api, load("tunnels-https-and-http")["tunnels"])}
    assert pair["web"].proto == "https" and pair["web (http)"].proto == "http"
    assert pair["web (http)"].uri == "/api/tunnels/web%20%28http%29"
    assert t.id is None


def test_v3_tunnel_id_and_unknown_fields_ignored() -> None:
    data = dict(load("tunnel-web"), ID="0123456789abcdef0123456789abcdef", future={"x": 1})
    t = Tunnel.from_api(data)
    assert t.id == "0123456789abcdef0123456789abcdef"
    with pytest.raises(ValueError, match="name"):
        Tunnel.from_api({"uri": "/api/tunnels/x"})


def test_api_root() -> None:
    assert load("api-root") == {
        "tunnels_uri": "/api/tunnels",
        "http_requests_uri": "/api/requests/http",
    }


def test_agent_status_v3_and_legacy() -> None:
    v3 = {
        "status": "online",
        "agent_version": "3.39.6",
        "session": {"legs": [{"region": "eu", "latency": "0ms"}]},
        "uri": "/api/status",
    }
    s = AgentStatus.from_api(v3)
    assert (s.status, s.agent_version, s.legacy) == ("online", "3.39.6", False)
    assert s.session["legs"][0]["region"] == "eu"
    legacy = AgentStatus.legacy_online()
    assert legacy.to_dict() == {
        "status": "online",
        "agent_version": None,
        "session": {},
        "uri": "/api/status",
        "legacy": True,
    }


def test_search_query_and_accept(traffic: dict[str, CapturedRequest]) -> None:
    r = traffic["/search"]
    assert r.method == "GET"
    assert r.request.uri == "/search?q=hello%20world&page=2&tag=a&tag=b"
    assert r.request.query == "q=hello%20world&page=2&tag=a&tag=b"
    assert r.request.header("accept") == "application/json"
    assert r.request.body.kind == "empty" and r.request.body.size == 0
    assert r.response is not None
    assert r.response.body.json["query"] == {"q": ["hello world"], "page": ["2"], "tag": ["a", "b"]}


def test_webhook_json_201(traffic: dict[str, CapturedRequest]) -> None:
    r = traffic["/webhook"]
    body = r.request.body
    assert body.kind == "json" and body.is_json
    assert body.json == {
        "event": "push",
        "ref": "refs/heads/main",
        "count": 3,
        "nested": {"ok": True},
    }
    assert body.size == body.declared_length == 71 and not body.truncated
    assert r.status_code == 201 and r.response is not None
    assert r.response.status == "201 Created" and r.response.reason == "Created"
    assert r.response.header("Location") == "/webhook/1"
    assert r.start == datetime(2026, 11, 28, 16, 33, 6, tzinfo=timezone.utc)
    assert r.duration_ns == 933777 and r.duration_ms == pytest.approx(0.933777)


def test_form_fields(traffic: dict[str, CapturedRequest]) -> None:
    body = traffic["/form"].request.body
    assert body.kind == "form"
    assert body.form == [("name", "Jane Doe"), ("note", "a&b=c"), ("n", "1")]
    assert body.text == "name=Jane+Doe&note=a%26b%3Dc&n=1"


def test_gzip_json_response(traffic: dict[str, CapturedRequest]) -> None:
    resp = traffic["/gzip"].response
    assert resp is not None
    body = resp.body
    assert body.encoding == "gzip" and body.decode_error is None
    assert body.wire[:2] == b"\x1f\x8b" and len(body.wire) == 148
    assert body.data == gzip.decompress(body.wire)
    assert body.kind == "json" and body.json["compressed"] is True
    assert body.size == len(body.data) > 148
    d = body.to_dict()
    assert d["encoding"] == "gzip" and d["json"]["compressed"] is True and d["base64"] is None


def test_200_kib_request_and_200_kb_response(traffic: dict[str, CapturedRequest]) -> None:
    up = traffic["/upload"].request.body
    assert up.size == 200 * 1024 == up.declared_length
    assert up.text == "x" * 204800 and up.kind == "text" and not up.truncated
    assert up.content_type == "text/plain"
    resp = traffic["/upload"].response
    assert resp is not None and resp.body.json == {"received": 204800}
    large = traffic["/large"].response
    assert large is not None
    assert large.body.size == 199500 and large.body.charset == "utf-8"
    assert large.body.text is not None
    assert large.body.text.startswith("line 000000 of a large plain-text response body")
    assert not large.body.truncated


def test_404_and_500(traffic: dict[str, CapturedRequest]) -> None:
    nf = traffic["/does-not-exist"]
    assert nf.status_code == 404 and nf.is_error
    assert nf.response is not None and nf.response.status == "404 Not Found"
    assert nf.response.body.json == {"error": "not found", "path": "/does-not-exist"}
    boom = traffic["/boom"]
    assert boom.status_code == 500 and boom.is_error
    assert boom.response is not None and boom.response.body.text == "internal error: boom\n"
    assert boom.response.body.kind == "text"
    assert not traffic["/search"].is_error


def test_repeated_headers(traffic: dict[str, CapturedRequest]) -> None:
    r = traffic["/headers"]
    assert r.request.headers["X-Multi"] == ["first", "second"]
    assert r.request.header_values("x-multi") == ["first", "second"]
    assert r.request.header("X-MULTI") == "first"
    # wire order from raw keeps both, in order
    assert [v for k, v in r.request.header_lines if k == "X-Multi"] == ["first", "second"]
    assert r.response is not None
    assert r.response.header_values("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert r.response.header_values("X-Multi-Resp") == ["one", "two"]
    assert r.to_dict()["response"]["headers"]["Set-Cookie"] == ["a=1; Path=/", "b=2; Path=/"]


def test_delete_204_and_keepalive_pair(traffic: dict[str, CapturedRequest]) -> None:
    d = traffic["/items/42"]
    assert d.method == "DELETE" and d.status_code == 204
    assert d.response is not None and d.response.body.kind == "empty"
    reqs = [CapturedRequest.from_api(e) for e in load("requests")["requests"]]
    conns = [r.request.uri for r in reqs if r.path == "/"]
    assert conns == ["/?conn=2", "/?conn=1"]


def test_replayed_entry() -> None:
    entries = [CapturedRequest.from_api(e) for e in load("requests-after-replay")["requests"]]
    newest = entries[0]
    assert newest.remote_addr == "replayed" and newest.replayed
    assert newest.id != WEBHOOK_ID
    original = next(r for r in entries if r.id == WEBHOOK_ID)
    assert not original.replayed
    assert newest.request.uri == original.request.uri == "/webhook?source=test"
    assert newest.request.body.json == original.request.body.json
    assert newest.status_code == 201
    assert newest.to_dict()["remote_addr"] == "replayed"


def test_request_by_id_matches_list_entry() -> None:
    one = CapturedRequest.from_api(load("request-by-id"))
    in_list = next(e for e in load("requests")["requests"] if e["id"] == WEBHOOK_ID)
    assert one.to_dict() == CapturedRequest.from_api(in_list).to_dict()


def test_tunnel_substring_list() -> None:
    entries = [
        CapturedRequest.from_api(e) for e in load("requests-after-120-tunnel-substring")["requests"]
    ]
    assert {r.tunnel_name for r in entries} == {"web"}
    assert all(r.path == "/" and r.request.query.startswith("n=") for r in entries)


@pytest.mark.parametrize("name", sorted(ERROR_FILES))
def test_error_bodies_have_the_documented_fields(name: str) -> None:
    err = load(name)
    status, code = ERROR_FILES[name]
    assert err["status_code"] == status
    assert err.get("error_code") == code
    assert isinstance(err["msg"], str) and isinstance(err["details"], dict)


def test_record_keys_are_always_present(traffic: dict[str, CapturedRequest]) -> None:
    rec = traffic["/webhook"].to_dict()
    assert list(rec) == [
        "id", "tunnel", "remote_addr", "start", "duration_ms", "method", "uri", "path",
        "status_code", "request", "response", "error",
    ]  # fmt: skip
    assert rec["error"] is None  # a real agent's entry never carries one
    assert rec["start"] == "2026-11-28T16:33:06+00:00"
    assert rec["duration_ms"] == 0.934
    assert list(rec["request"]) == ["proto", "headers", "body", "raw_error"]
    assert list(rec["response"]) == [
        "proto", "status", "status_code", "headers", "body", "raw_error",
    ]  # fmt: skip
    assert rec["request"]["raw_error"] is None and rec["response"]["raw_error"] is None
    assert list(rec["request"]["body"]) == [
        "size", "content_type", "encoding", "kind", "truncated", "text", "json", "base64",
    ]  # fmt: skip


def test_pending_entry_and_missing_optionals() -> None:
    e = load("request-by-id")
    e = {k: v for k, v in e.items() if k not in ("response", "remote_addr", "duration", "uri")}
    e["extra_future_field"] = {"ignored": True}
    r = CapturedRequest.from_api(e)
    assert r.pending and r.response is None and r.status_code is None and r.is_error
    assert r.duration_ns == 0 and r.uri == f"/api/requests/http/{WEBHOOK_ID}"
    rec = r.to_dict()
    assert rec["response"] is None and rec["status_code"] is None


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda e: e.pop("id"), "'id'"),
        (lambda e: e.pop("start"), "'start'"),
        (lambda e: e.pop("request"), "'request'"),
        (lambda e: e["request"].pop("method"), "request.method"),
        (lambda e: e.__setitem__("start", "yesterday"), "malformed"),
        (lambda e: e.__setitem__("duration", "long"), "duration"),
    ],
)
def test_from_api_rejects_broken_entries(mutate: Any, match: str) -> None:
    e = load("request-by-id")
    mutate(e)
    with pytest.raises(ValueError, match=match):
        CapturedRequest.from_api(e)


def test_start_with_offset_and_nanoseconds() -> None:
    e = load("request-by-id")
    e["start"] = "2026-11-28T08:33:06.123456789-08:00"
    r = CapturedRequest.from_api(e)
    assert r.start == datetime(2026, 11, 28, 16, 33, 6, 123456, tzinfo=timezone.utc)
    assert r.to_dict()["start"] == "2026-11-28T08:33:06.123456-08:00"
    assert r.start_text == e["start"]


def test_listing_is_lazy() -> None:
    """Building models decodes no body: nothing is cached until a body is asked for."""
    entries = load("requests")["requests"]
    reqs = [CapturedRequest.from_api(e) for e in entries]
    for r in reqs:
        assert r.method and r.path and r.status_code
        assert "_decoded_raw" not in vars(r.request) and "body" not in vars(r.request)
    assert reqs[0].response is not None
    reqs[0].response.body.to_dict()
    assert "_decoded_raw" in vars(reqs[0].response)
