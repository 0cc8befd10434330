"""The pyngrok-style API (ngrok_inspect.agent) against the recorded 2.3.41 agent."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from ngrok_inspect import agent, ngrok
from ngrok_inspect.agent import InspectConfig, ResponseDict, StatusText
from ngrok_inspect.errors import AgentUnreachableError, RequestNotFoundError, TunnelNotFoundError
from tests.support.servers import WEBHOOK_ID, FixtureAgentServer, load_json


class FakePyngrokConfig:
    """Duck-types pyngrok.conf.PyngrokConfig: only the fields we honour, plus some we ignore."""

    def __init__(self, config_path: str | None, request_timeout: float = 4.0) -> None:
        self.ngrok_path = "/usr/local/bin/ngrok"
        self.config_path = config_path
        self.auth_token = None
        self.region = None
        self.monitor_thread = True
        self.request_timeout = request_timeout
        self.start_new_session = False


@pytest.fixture
def cfg(fixture_agent: FixtureAgentServer) -> InspectConfig:
    return InspectConfig(api_url=fixture_agent.url, request_timeout=5)


@pytest.fixture(autouse=True)
def no_default_config() -> Any:
    yield
    agent.set_default_config(None)


def test_get_requests_oldest_first_with_seed_attributes(cfg: InspectConfig) -> None:
    reqs = agent.get_requests(pyngrok_config=cfg)
    served = load_json("requests")["requests"]
    assert [r.id for r in reqs] == [e["id"] for e in reversed(served)]
    assert reqs[0].request["uri"].startswith("/search")  # the oldest
    assert [r.request["uri"] for r in reqs[-2:]] == ["/?conn=1", "/?conn=2"]  # [-2:] = last 2
    hook = next(r for r in reqs if r.id == WEBHOOK_ID)
    assert hook.data == next(e for e in served if e["id"] == WEBHOOK_ID)
    assert hook.uri == f"/api/requests/http/{WEBHOOK_ID}"
    assert (hook.tunnel_name, hook.remote_addr) == ("web", "127.0.0.1")
    assert hook.start == "2026-11-28T16:33:06Z"
    assert hook.duration == pytest.approx(0.933777) and hook.duration_ns == 933777
    assert hook.request["method"] == "POST" and hook.request["headers"]["Content-Type"] == [
        "application/json"
    ]
    assert isinstance(hook.response, ResponseDict)
    assert hook.model().request.body.json["event"] == "push"


def test_get_requests_asks_for_everything(
    cfg: InspectConfig, fixture_agent: FixtureAgentServer
) -> None:
    agent.get_requests(pyngrok_config=cfg)
    assert fixture_agent.calls[-1][1] == "/api/requests/http?limit=1000000"


def test_tunnel_name_is_exact(cfg: InspectConfig, fixture_agent: FixtureAgentServer) -> None:
    assert len(agent.get_requests(tunnel_name="web", pyngrok_config=cfg)) == 12
    # the agent matches "eb" as a substring of "web"; the seed API filters exactly
    assert agent.get_requests(tunnel_name="eb", pyngrok_config=cfg) == []
    assert fixture_agent.calls[-1][1] == "/api/requests/http?limit=1000000&tunnel_name=eb"
    assert agent.get_requests(tunnel_name="nope", pyngrok_config=cfg) == []


def test_status_compares_numerically_and_dumps_unchanged(cfg: InspectConfig) -> None:
    reqs = {r.request["uri"]: r for r in agent.get_requests(pyngrok_config=cfg)}
    nf = reqs["/does-not-exist"].response
    assert nf is not None
    status = nf.get("status", 0)
    assert isinstance(status, StatusText) and status == "404 Not Found"
    assert status >= 400 and status == 404 and status != 200 and int(status) == 404
    assert nf["status"] >= 400 and not (nf["status"] < 400)
    ok = reqs["/search?q=hello%20world&page=2&tag=a&tag=b"].response
    assert ok is not None and not ok.get("status", 0) >= 400
    errors = [r for r in reqs.values() if r.response and r.response.get("status", 0) >= 400]
    assert sorted(r.request["uri"] for r in errors) == ["/boom", "/does-not-exist"]
    buf = io.StringIO()
    json.dump(nf, buf)
    assert json.loads(buf.getvalue())["status"] == "404 Not Found"
    assert json.loads(buf.getvalue()) == next(
        e["response"]
        for e in load_json("requests")["requests"]
        if e["request"]["uri"] == "/does-not-exist"
    )
    assert nf.get("missing", 0) == 0 and nf.get("status_code") == 404


def test_status_text_semantics() -> None:
    s = StatusText("503 Service Unavailable")
    assert s.code == 503 and s > 499 and s <= 503.0 and s < 600
    assert s == "503 Service Unavailable" and s != "503" and s.startswith("503")
    assert {s: 1}["503 Service Unavailable"] == 1  # hashes like the string
    assert StatusText("weird").code == 0
    assert StatusText("200 OK", 201).code == 201
    assert sorted([StatusText("500 x"), StatusText("404 y")]) == ["404 y", "500 x"]


def test_get_request_and_not_found(cfg: InspectConfig) -> None:
    r = agent.get_request(WEBHOOK_ID, pyngrok_config=cfg)
    assert r.id == WEBHOOK_ID and r.request["uri"] == "/webhook?source=test"
    assert r.response is not None and r.response.get("status") == "201 Created"
    with pytest.raises(RequestNotFoundError):
        agent.get_request("airt_doesnotexist", pyngrok_config=cfg)


def test_replay_and_delete(cfg: InspectConfig, fixture_agent: FixtureAgentServer) -> None:
    agent.replay_request(WEBHOOK_ID, pyngrok_config=cfg)
    assert json.loads(fixture_agent.calls[-1][2]) == {"id": WEBHOOK_ID, "tunnel_name": None}
    newest = agent.get_requests(pyngrok_config=cfg)[-1]
    assert newest.remote_addr == "replayed" and newest.request["uri"] == "/webhook?source=test"
    agent.replay_request(WEBHOOK_ID, tunnel_name="web", pyngrok_config=cfg)
    assert json.loads(fixture_agent.calls[-1][2])["tunnel_name"] == "web"
    agent.delete_requests(pyngrok_config=cfg)
    assert agent.get_requests(pyngrok_config=cfg) == []


def test_agent_status_of_a_2x_agent(cfg: InspectConfig) -> None:
    st = agent.get_agent_status(pyngrok_config=cfg)
    assert isinstance(st, agent.NgrokAgent)
    assert (st.status, st.agent_version, st.session, st.uri) == ("online", None, {}, "/api/status")


def test_connect_get_tunnels_disconnect(
    cfg: InspectConfig, fixture_agent: FixtureAgentServer
) -> None:
    t = ngrok.connect("8000", pyngrok_config=cfg)
    body = json.loads(fixture_agent.calls[-1][2])
    assert body["addr"] == "8000" and body["proto"] == "http" and body["inspect"] is True
    assert t.name == body["name"] and t.name.startswith("http-8000-")
    assert t.public_url == "http://127.0.0.1:8080" and t.api_url == fixture_agent.url
    named = agent.connect(9000, name="second", pyngrok_config=cfg)
    assert named.name == "second" and named.config["addr"] == "9000"
    assert [x.name for x in ngrok.get_tunnels(pyngrok_config=cfg)] == ["web"]
    ngrok.disconnect("http://127.0.0.1:8080", pyngrok_config=cfg)
    assert fixture_agent.calls[-1][:2] == ("DELETE", "/api/tunnels/web")
    with pytest.raises(TunnelNotFoundError):
        ngrok.disconnect("http://nowhere.example", pyngrok_config=cfg)


def test_pyngrok_config_duck_typed(fixture_agent: FixtureAgentServer, tmp_path: Path) -> None:
    yml = tmp_path / "ngrok.yml"
    yml.write_text(f'version: "2"\nauthtoken: x\nweb_addr: 127.0.0.1:{fixture_agent.port}\n')
    reqs = agent.get_requests(pyngrok_config=FakePyngrokConfig(str(yml)))
    assert len(reqs) == 12
    # pyngrok fills config_path with its default even when absent: that is not an error
    missing = FakePyngrokConfig(str(tmp_path / "absent.yml"), request_timeout=0.5)
    client = agent._client(missing)
    assert (client.base_url, client.timeout) == ("http://127.0.0.1:4040", 0.5)


def test_unreachable_agent_is_a_typed_error() -> None:
    with pytest.raises(AgentUnreachableError):
        agent.get_requests(pyngrok_config=InspectConfig(api_url="127.0.0.1:9", request_timeout=1))


def test_default_resolution_env_and_set_default(
    fixture_agent: FixtureAgentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NGROK_INSPECT_API_URL", fixture_agent.url)
    assert len(agent.get_requests()) == 12
    monkeypatch.setenv("NGROK_INSPECT_API_URL", "127.0.0.1:9")
    agent.set_default_config(InspectConfig(api_url=fixture_agent.url))
    assert agent.get_default_config().api_url == fixture_agent.url
    assert agent.get_agent_status().status == "online"


def test_reprs(cfg: InspectConfig) -> None:
    r = agent.get_request(WEBHOOK_ID, pyngrok_config=cfg)
    assert repr(r) == f'<CapturedRequest id: "{WEBHOOK_ID}", uri: "/webhook?source=test">'
    assert "online" in repr(agent.get_agent_status(pyngrok_config=cfg))
