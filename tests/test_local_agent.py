"""The local agent against the recorded answers of a real ngrok agent (same traffic, same calls).

Every test runs a real upstream and a real LocalAgent on 127.0.0.1; nothing is mocked.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from ngrok_inspect.local_agent import LocalAgent, TunnelSpec
from ngrok_inspect.local_agent.ksuid import ksuid_time
from tests.support.live import UPLOAD_SIZE, WEBHOOK_BODY, Upstream, send_traffic

FIXTURES = Path(__file__).parent / "fixtures" / "agent-2.3.41"
ID_RE = re.compile(r"^airt_[0-9A-Za-z]{27}$")


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_bytes())


def shape(value: Any, key: str = "") -> Any:
    """A value's structure: dict keys, list element shapes, JSON types.

    Header maps are compared as 'name -> list of strings' (their names depend on the
    client); numbers of metrics may be int or float in Go's encoding ("number").
    """
    if key == "headers":
        assert isinstance(value, dict)
        assert all(isinstance(k, str) for k in value)
        assert all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in value.values()
        )
        return "headers"
    if isinstance(value, dict):
        return {k: shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        shapes = [shape(v) for v in value]
        return shapes[:1] if all(s == shapes[0] for s in shapes) else shapes
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return (
            "int"
            if key in ("duration", "status_code", "count", "gauge", "error_code")
            else "number"
        )
    if value is None:
        return "null"
    return type(value).__name__


def api(agent: LocalAgent, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(method, agent.api_url + path, timeout=10, **kw)


def listing(agent: LocalAgent, query: str = "") -> list[dict[str, Any]]:
    r = api(agent, "GET", "/api/requests/http" + query)
    assert r.status_code == 200, r.text
    return list(r.json()["requests"])


def raw(message: dict[str, Any]) -> bytes:
    return base64.b64decode(message["raw"])


@pytest.fixture
def web_agent(upstream: Upstream) -> Any:
    """The fixture's setup: one tunnel named 'web'."""
    with LocalAgent(upstream.url, name="web") as agent:
        yield agent


@pytest.fixture
def traffic(web_agent: LocalAgent) -> list[dict[str, Any]]:
    """The README's traffic sent through the 'web' tunnel; the listing afterwards."""
    responses = send_traffic(web_agent.tunnels[0].public_url)
    assert [r.status_code for r in responses] == [
        200,
        201,
        200,
        200,
        200,
        200,
        404,
        500,
        200,
        204,
        200,
        200,
    ]
    return listing(web_agent)


# -- the recorded answers, key for key and type for type ------------------------------------


def test_root_and_empty_list_equal_the_recorded_answers(web_agent: LocalAgent) -> None:
    assert api(web_agent, "GET", "/api").json() == fixture("api-root")
    assert api(web_agent, "GET", "/api/").json() == fixture("api-root")
    r = api(web_agent, "GET", "/api/requests/http")
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == fixture("requests-empty")


def test_listing_matches_the_recorded_traffic(traffic: list[dict[str, Any]]) -> None:
    recorded = fixture("requests")["requests"]
    assert shape(traffic) == shape(recorded)
    assert [
        (e["request"]["method"], e["request"]["uri"], e["response"]["status"]) for e in traffic
    ] == [(e["request"]["method"], e["request"]["uri"], e["response"]["status"]) for e in recorded]
    for e in traffic:
        assert ID_RE.match(e["id"])
        assert e["uri"] == "/api/requests/http/" + e["id"]
        assert e["tunnel_name"] == "web"
        assert e["remote_addr"] == "127.0.0.1"
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", e["start"])
        assert e["duration"] > 0
        assert datetime.fromisoformat(e["start"].replace("Z", "+00:00")).timestamp() == ksuid_time(
            e["id"]
        )
    ids = [e["id"] for e in traffic]
    assert ids == sorted(ids, reverse=True)  # newest first, ids sort by creation


def test_limit_and_tunnel_filters_as_recorded(
    web_agent: LocalAgent, traffic: list[dict[str, Any]]
) -> None:
    three = api(web_agent, "GET", "/api/requests/http?limit=3").json()
    assert shape(three) == shape(fixture("requests-limit-3"))
    assert [e["id"] for e in three["requests"]] == [e["id"] for e in traffic[:3]]
    assert api(web_agent, "GET", "/api/requests/http?tunnel_name=nope").json() == fixture(
        "requests-tunnel-nope"
    )
    assert len(listing(web_agent, "?tunnel_name=eb")) == 12  # substring of 'web'
    assert listing(web_agent, "?limit=-1") == []
    assert len(listing(web_agent, "?limit=0")) == 12
    assert len(listing(web_agent, "?limit=1000")) == 12


def test_limit_defaults_to_100_and_zero_means_100(web_agent: LocalAgent) -> None:
    with requests.Session() as s:
        for i in range(120):
            s.get(f"{web_agent.tunnels[0].public_url}/n?i={i}", timeout=10)
    assert len(listing(web_agent)) == 100
    assert len(listing(web_agent, "?limit=0")) == 100
    assert len(listing(web_agent, "?limit=1000")) == 120
    assert listing(web_agent)[0]["request"]["uri"] == "/n?i=119"
    five = api(web_agent, "GET", "/api/requests/http?limit=5&tunnel_name=eb").json()
    assert shape(five) == shape(fixture("requests-after-120-tunnel-substring"))
    assert api(web_agent, "GET", "/api/requests/http?limit=-1").json() == fixture(
        "requests-after-120-limit-neg"
    )


def test_request_by_id_as_recorded(web_agent: LocalAgent, traffic: list[dict[str, Any]]) -> None:
    webhook = next(e for e in traffic if e["request"]["uri"] == "/webhook?source=test")
    got = api(web_agent, "GET", f"/api/requests/http/{webhook['id']}").json()
    recorded = fixture("request-by-id")
    assert shape(got) == shape(recorded)
    assert got == webhook
    req = raw(got["request"])
    assert req.startswith(b"POST /webhook?source=test HTTP/1.1\r\nHost: 127.0.0.1:")
    head, _, body = req.partition(b"\r\n\r\n")
    assert json.loads(body) == WEBHOOK_BODY
    assert b"\r\nContent-Length: 71" in head
    assert got["request"]["headers"]["Host"] == [web_agent.tunnels[0].public_url.split("//")[1]]
    assert got["request"]["headers"]["Content-Type"] == ["application/json"]
    assert got["response"]["status"] == "201 Created" and got["response"]["status_code"] == 201
    assert got["response"]["headers"]["Location"] == ["/webhook/1"]
    resp = raw(got["response"])
    assert resp.startswith(b"HTTP/1.1 201 Created\r\n")
    assert json.loads(resp.partition(b"\r\n\r\n")[2]) == {
        "received": 71,
        "content_type": "application/json",
    }


def test_raw_keeps_bodies_exact(traffic: list[dict[str, Any]]) -> None:
    by_uri = {e["request"]["uri"]: e for e in traffic}
    upload = raw(by_uri["/upload"]["request"])
    assert upload.partition(b"\r\n\r\n")[2] == b"x" * UPLOAD_SIZE
    large = raw(by_uri["/large"]["response"])
    assert large.partition(b"\r\n\r\n")[2] == b"L" * 200_000
    gz = by_uri["/gzip"]["response"]
    assert gz["headers"]["Content-Encoding"] == ["gzip"]
    assert raw(gz).partition(b"\r\n\r\n")[2][:2] == b"\x1f\x8b"  # still compressed
    hdrs = by_uri["/headers"]
    assert hdrs["request"]["headers"]["X-Multi"] == ["first", "second"]
    assert hdrs["response"]["headers"]["Set-Cookie"] == ["s1=a; Path=/", "s2=b; Path=/; HttpOnly"]
    assert b"X-Multi: first\r\nX-Multi: second\r\n" in raw(hdrs["request"])
    assert by_uri["/items/42"]["response"]["status"] == "204 No Content"
    form = raw(by_uri["/form"]["request"]).partition(b"\r\n\r\n")[2]
    assert form == b"name=Jane+Doe&note=a%26b%3Dc&n=1"


def test_replay_of_a_post_with_body(web_agent: LocalAgent, traffic: list[dict[str, Any]]) -> None:
    webhook = next(e for e in traffic if e["request"]["uri"] == "/webhook?source=test")
    r = api(
        web_agent, "POST", "/api/requests/http", json={"id": webhook["id"], "tunnel_name": None}
    )
    assert r.status_code == 204 and r.content == b""
    after = listing(web_agent)
    assert shape(after) == shape(fixture("requests-after-replay")["requests"])
    newest = after[0]
    assert len(after) == 13 and newest["id"] != webhook["id"]
    assert newest["remote_addr"] == "replayed"
    assert newest["request"]["raw"] == webhook["request"]["raw"]
    assert newest["response"]["status_code"] == 201
    # the upstream received the whole body again
    assert json.loads(raw(newest["response"]).partition(b"\r\n\r\n")[2])["received"] == 71


def test_delete_clears_everything(web_agent: LocalAgent, traffic: list[dict[str, Any]]) -> None:
    r = api(web_agent, "DELETE", "/api/requests/http")
    assert r.status_code == 204 and r.content == b""
    assert api(web_agent, "GET", "/api/requests/http").json() == fixture("requests-after-delete")


@pytest.mark.parametrize(
    ("name", "method", "path", "kw"),
    [
        ("error-request-not-found", "GET", "/api/requests/http/airt_doesnotexist", {}),
        (
            "error-replay-unknown-id",
            "POST",
            "/api/requests/http",
            {"json": {"id": "airt_doesnotexist"}},
        ),
        ("error-tunnel-not-found", "GET", "/api/tunnels/nope", {}),
        ("error-limit-not-int", "GET", "/api/requests/http?limit=abc", {}),
        ("error-replay-bad-json", "POST", "/api/requests/http", {"data": b"{bad"}),
        ("error-unknown-path", "GET", "/api/nothing-here", {}),
    ],
)
def test_errors_as_recorded(
    web_agent: LocalAgent, name: str, method: str, path: str, kw: dict[str, Any]
) -> None:
    recorded = fixture(name)
    status = int((FIXTURES / f"{name}.http").read_text().split()[1])
    r = api(web_agent, method, path, **kw)
    assert r.status_code == status
    assert r.headers["Content-Type"].startswith("application/json")
    got = r.json()
    assert shape(got) == shape(recorded)
    if name == "error-replay-bad-json":  # the parser's wording differs from Go's
        assert {k: v for k, v in got.items() if k != "details"} == {
            k: v for k, v in recorded.items() if k != "details"
        }
    elif name == "error-unknown-path":
        assert got == {**recorded, "details": {"path": "/api/nothing-here"}}
    else:
        assert got == recorded


def test_status_in_the_3x_shape(web_agent: LocalAgent) -> None:
    got = api(web_agent, "GET", "/api/status").json()
    assert got["status"] == "online" and got["uri"] == "/api/status"
    assert isinstance(got["agent_version"], str)
    assert shape(got["session"]) == {"legs": [{"region": "str", "latency": "str"}]}


def test_method_not_allowed_keeps_the_error_shape(web_agent: LocalAgent) -> None:
    r = api(web_agent, "PUT", "/api/requests/http")
    assert r.status_code == 405
    assert set(r.json()) == {"status_code", "msg", "details"}


# -- tunnels ---------------------------------------------------------------------------------


def test_tunnels_as_recorded_with_real_metrics(
    web_agent: LocalAgent, traffic: list[dict[str, Any]]
) -> None:
    got = api(web_agent, "GET", "/api/tunnels").json()
    assert shape(got) == shape(fixture("tunnels"))
    [t] = got["tunnels"]
    assert t["name"] == "web" and t["uri"] == "/api/tunnels/web" and t["proto"] == "http"
    assert t["public_url"] == web_agent.tunnels[0].public_url
    assert t["config"] == {"addr": web_agent.tunnels[0].addr, "inspect": True}
    assert t["metrics"]["http"]["count"] == 12
    assert t["metrics"]["conns"]["count"] >= 4  # four client sessions in send_traffic
    assert 0 < t["metrics"]["http"]["p50"] <= t["metrics"]["http"]["p99"]
    one = api(web_agent, "GET", "/api/tunnels/web").json()
    assert shape(one) == shape(fixture("tunnel-web"))


def test_two_tunnels_and_url_encoded_names(upstream: Upstream) -> None:
    specs = [TunnelSpec("web", upstream.url), TunnelSpec("web (http)", upstream.url)]
    with LocalAgent(tunnels=specs) as agent:
        got = api(agent, "GET", "/api/tunnels").json()
        assert shape(got) == shape(fixture("tunnels-https-and-http"))
        assert [t["uri"] for t in got["tunnels"]] == [
            "/api/tunnels/web",
            "/api/tunnels/web%20%28http%29",
        ]
        assert api(agent, "GET", "/api/tunnels/web%20%28http%29").json()["name"] == "web (http)"
        requests.get(agent.tunnels[1].public_url + "/x", timeout=10)
        requests.get(agent.tunnels[0].public_url + "/y", timeout=10)
        assert [e["tunnel_name"] for e in listing(agent)] == ["web", "web (http)"]
        assert [e["tunnel_name"] for e in listing(agent, "?tunnel_name=http")] == ["web (http)"]
        # replay through the other tunnel
        first = listing(agent)[1]
        r = api(agent, "POST", "/api/requests/http", json={"id": first["id"], "tunnel_name": "web"})
        assert r.status_code == 204
        assert listing(agent)[0]["tunnel_name"] == "web"
        r = api(
            agent, "POST", "/api/requests/http", json={"id": first["id"], "tunnel_name": "nope"}
        )
        assert r.status_code == 404 and r.json()["error_code"] == 100


def test_start_and_stop_a_tunnel_through_the_api(
    local_agent: LocalAgent, upstream: Upstream
) -> None:
    r = api(
        local_agent,
        "POST",
        "/api/tunnels",
        json={"name": "extra", "addr": upstream.url, "proto": "http"},
    )
    assert r.status_code == 201, r.text
    t = r.json()
    assert shape(t) == shape(fixture("tunnel-web"))
    assert t["name"] == "extra" and t["uri"] == "/api/tunnels/extra"
    assert requests.get(t["public_url"] + "/via-extra", timeout=10).status_code == 200
    assert listing(local_agent)[0]["tunnel_name"] == "extra"
    dup = api(local_agent, "POST", "/api/tunnels", json={"name": "extra", "addr": upstream.url})
    assert dup.status_code == 400 and dup.json()["error_code"] == 102
    r = api(
        local_agent, "DELETE", "/api/tunnels/extra", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 204 and r.content == b""
    assert api(local_agent, "GET", "/api/tunnels/extra").json()["error_code"] == 100
    assert api(local_agent, "DELETE", "/api/tunnels/extra").status_code == 404
    with pytest.raises(requests.ConnectionError):
        requests.get(t["public_url"] + "/gone", timeout=5)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "addr": "8000", "bogus": 1},
        {"addr": "8000"},
        {"name": "x", "addr": "8000", "proto": "tcp"},
        {"name": "x", "addr": "not a url:xx"},
        ["name"],
    ],
)
def test_invalid_tunnel_definitions_give_102(local_agent: LocalAgent, body: Any) -> None:
    r = api(local_agent, "POST", "/api/tunnels", json=body)
    assert r.status_code == 400
    got = r.json()
    assert got["error_code"] == 102 and got["msg"] == "invalid tunnel configuration"
    assert isinstance(got["details"]["err"], str)


def test_pyngrok_style_calls(local_agent: LocalAgent) -> None:
    """pyngrok sends Content-Type: application/json on every call, even GET and DELETE."""
    h = {"Content-Type": "application/json"}
    assert api(local_agent, "GET", "/api/tunnels", headers=h).status_code == 200
    requests.post(local_agent.tunnels[0].public_url + "/hook", data=b"payload", timeout=10)
    [entry] = api(local_agent, "GET", "/api/requests/http", headers=h).json()["requests"]
    r = api(
        local_agent,
        "POST",
        "/api/requests/http",
        headers=h,
        data=json.dumps({"id": entry["id"], "tunnel_name": None}),
    )
    assert r.status_code == 204
    assert api(local_agent, "DELETE", "/api/requests/http", headers=h).status_code == 204
    assert listing(local_agent) == []


def test_the_client_reads_the_local_agent_like_a_real_one(
    web_agent: LocalAgent, traffic: list[dict[str, Any]]
) -> None:
    """The project's own client and models parse every entry and decode every body."""
    from ngrok_inspect.client import AgentClient

    with AgentClient(web_agent.api_url) as client:
        reqs = {r.request.uri: r for r in client.list_requests()}
        [tunnel] = client.tunnels()
        status = client.status()
    assert tunnel.name == "web" and tunnel.inspect is True
    assert status.status == "online"
    webhook = reqs["/webhook?source=test"]
    assert webhook.request.body.json == WEBHOOK_BODY
    assert webhook.status_code == 201
    gz = reqs["/gzip"]
    assert gz.response is not None and gz.response.body.encoding == "gzip"
    assert gz.response.body.json["compressed"] is True  # decoded by the client, not the agent
    upload = reqs["/upload"]
    assert upload.request.body.size == UPLOAD_SIZE and not upload.request.body.truncated
    assert reqs["/form"].request.body.form == [("name", "Jane Doe"), ("note", "a&b=c"), ("n", "1")]
    for r in reqs.values():
        record = r.to_dict()
        assert record["id"] == r.id and record["tunnel"] == "web"
