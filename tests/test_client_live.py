"""AgentClient against the live local agent carrying real traffic through a real upstream."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
import requests

from ngrok_inspect.client import ALL, AgentClient
from ngrok_inspect.errors import AgentError, RequestNotFoundError, TunnelNotFoundError
from ngrok_inspect.models import CapturedRequest
from tests.support.live import LARGE_SIZE, UPLOAD_SIZE, WEBHOOK_BODY, send_traffic


@pytest.fixture
def client(local_agent: Any) -> Any:
    with AgentClient(local_agent.api_url, timeout=10) as c:
        yield c


@pytest.fixture
def captured(local_agent: Any, client: AgentClient) -> dict[str, CapturedRequest]:
    """Send the README's traffic through the tunnel; the captured entries by path."""
    responses = send_traffic(local_agent.tunnels[0].public_url)
    assert [r.status_code for r in responses][:8] == [200, 201, 200, 200, 200, 200, 404, 500]
    reqs = client.list_requests(limit=ALL)
    assert len(reqs) == 12
    return {r.request.uri if r.path == "/" else r.path: r for r in reqs}


def test_root_and_status(client: AgentClient) -> None:
    assert client.root() == {
        "tunnels_uri": "/api/tunnels",
        "http_requests_uri": "/api/requests/http",
    }
    st = client.status()
    assert st.status == "online" and not st.legacy and st.agent_version


def test_tunnels(client: AgentClient, local_agent: Any) -> None:
    [t] = client.tunnels()
    assert t.name == local_agent.tunnels[0].name == "command_line"
    assert t.public_url == local_agent.tunnels[0].public_url
    assert client.tunnel(t.name).public_url == t.public_url
    with pytest.raises(TunnelNotFoundError) as e:
        client.tunnel("nope")
    assert e.value.error_code == 100


def test_start_use_and_stop_a_tunnel(client: AgentClient, upstream: Any) -> None:
    t = client.start_tunnel("second", upstream.url)
    assert t.name == "second" and t.public_url.startswith("http://127.0.0.1:")
    assert sorted(x.name for x in client.tunnels()) == ["command_line", "second"]
    r = requests.get(t.public_url + "/search?q=x", timeout=10)
    assert r.status_code == 200
    [entry] = client.list_requests(tunnel_name="second")
    assert entry.tunnel_name == "second" and entry.request.uri == "/search?q=x"
    client.stop_tunnel("second")
    assert [x.name for x in client.tunnels()] == ["command_line"]
    with pytest.raises(requests.ConnectionError):
        requests.get(t.public_url + "/", timeout=5)
    with pytest.raises(TunnelNotFoundError):
        client.stop_tunnel("second")


def test_start_tunnel_rejects_unknown_keys(client: AgentClient) -> None:
    with pytest.raises(AgentError) as e:
        client.start_tunnel("bad", "8000", no_such_option=True)
    assert e.value.status_code == 400 and e.value.error_code == 102


def test_captured_traffic_decodes(captured: dict[str, CapturedRequest]) -> None:
    assert captured["/webhook"].request.body.json == WEBHOOK_BODY
    assert captured["/webhook"].status_code == 201
    assert captured["/form"].request.body.form == [
        ("name", "Jane Doe"),
        ("note", "a&b=c"),
        ("n", "1"),
    ]
    gz = captured["/gzip"].response
    assert gz is not None and gz.body.encoding == "gzip" and gz.body.json["compressed"] is True
    assert gz.body.data == gzip.decompress(gz.body.wire)
    assert captured["/upload"].request.body.size == UPLOAD_SIZE
    assert not captured["/upload"].request.body.truncated
    large = captured["/large"].response
    assert large is not None and large.body.size == LARGE_SIZE
    assert captured["/does-not-exist"].status_code == 404
    assert captured["/boom"].status_code == 500 and captured["/boom"].is_error
    h = captured["/headers"]
    assert h.request.header_values("X-Multi") == ["first", "second"]
    assert h.response is not None and len(h.response.header_values("Set-Cookie")) == 2
    assert captured["/items/42"].status_code == 204
    assert {"/?conn=1", "/?conn=2"} <= set(captured)
    json.dumps([r.to_dict() for r in captured.values()])


def test_list_params(client: AgentClient, captured: dict[str, CapturedRequest]) -> None:
    newest = client.list_requests(limit=3)
    assert len(newest) == 3
    assert [r.start for r in newest] == sorted((r.start for r in newest), reverse=True)
    assert client.list_requests(tunnel_name="nope") == []
    assert len(client.list_requests(tunnel_name="line")) == 12  # substring, as the agent does
    assert client.list_requests(limit=-1) == []


def test_get_resolve_replay_delete(
    client: AgentClient, captured: dict[str, CapturedRequest]
) -> None:
    hook = captured["/webhook"]
    assert client.get_request(hook.id).to_dict() == hook.to_dict()
    others = [r.id for r in captured.values() if r.id != hook.id]
    n = next(
        n for n in range(6, len(hook.id)) if not any(o.startswith(hook.id[:n]) for o in others)
    )
    assert client.resolve_id(hook.id[:n]) == hook.id
    assert client.resolve_id(hook.id[5:n]) == hook.id  # without the airt_ prefix
    assert client.resolve_id("last") == client.list_requests(limit=1)[0].id
    client.replay(hook.id)
    replayed = client.list_requests(limit=1)[0]
    assert replayed.replayed and replayed.id != hook.id
    assert replayed.request.uri == "/webhook?source=test"
    assert replayed.request.body.json == WEBHOOK_BODY and replayed.status_code == 201
    client.replay(hook.id, tunnel_name="command_line")
    assert len(client.list_requests(limit=ALL)) == 14
    with pytest.raises(RequestNotFoundError):
        client.replay("airt_doesnotexist")
    with pytest.raises(RequestNotFoundError):
        client.get_request("airt_doesnotexist")
    client.delete_requests()
    assert client.list_requests() == []
