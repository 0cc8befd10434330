"""AgentClient against real servers on 127.0.0.1: the recorded 2.3.41 agent and broken ones."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from ngrok_inspect.client import ALL, AgentClient
from ngrok_inspect.errors import (
    AgentError,
    AgentTimeoutError,
    AgentUnreachableError,
    AmbiguousIdError,
    ExitCode,
    InvalidResponseError,
    NotFoundError,
    RequestNotFoundError,
    TunnelNotFoundError,
    UsageError,
)
from ngrok_inspect.models import CapturedRequest
from tests.support.servers import WEBHOOK_ID, FixtureAgentServer, load_json


@pytest.fixture
def client(fixture_agent: FixtureAgentServer) -> AgentClient:
    c = AgentClient(fixture_agent.url, timeout=5)
    yield c  # type: ignore[misc]
    c.close()


def test_base_url_is_normalised() -> None:
    assert AgentClient("4040").base_url == "http://127.0.0.1:4040"
    assert AgentClient("http://127.0.0.1:4040/api/").base_url == "http://127.0.0.1:4040"
    with pytest.raises(UsageError):
        AgentClient("4040", timeout=0)


def test_root(client: AgentClient) -> None:
    assert client.root() == load_json("api-root")


def test_status_on_a_2x_agent_is_online_without_version(
    client: AgentClient, fixture_agent: FixtureAgentServer
) -> None:
    st = client.status()
    assert (st.status, st.agent_version, st.legacy) == ("online", None, True)
    # it asked /api/status (404 there) and then confirmed /api looks like an agent
    paths = [p for _, p, _ in fixture_agent.calls]
    assert paths == ["/api/status", "/api"]


def test_tunnels_and_tunnel(client: AgentClient) -> None:
    tunnels = client.tunnels()
    assert [t.name for t in tunnels] == ["web"]
    assert tunnels[0].public_url == "http://127.0.0.1:8080"
    assert client.tunnel("web").to_dict() == tunnels[0].to_dict()


def test_unknown_tunnel(client: AgentClient) -> None:
    with pytest.raises(TunnelNotFoundError) as e:
        client.tunnel("no such (tunnel)")
    err = e.value
    assert err.name == "no such (tunnel)" and err.exit_code == ExitCode.NOT_FOUND
    assert (err.status_code, err.error_code, err.msg) == (404, 100, "tunnel not found")
    assert err.details == {"name": "no such (tunnel)"}


def test_start_and_stop_tunnel(client: AgentClient, fixture_agent: FixtureAgentServer) -> None:
    t = client.start_tunnel("api", "8000", inspect=False, host_header="rewrite")
    assert t.name == "api" and t.addr == "8000" and t.inspect is False
    method, path, body = fixture_agent.calls[-1]
    assert (method, path) == ("POST", "/api/tunnels")
    assert json.loads(body) == {
        "name": "api",
        "addr": "8000",
        "proto": "http",
        "inspect": False,
        "host_header": "rewrite",
    }
    client.stop_tunnel("web")
    assert fixture_agent.calls[-1][:2] == ("DELETE", "/api/tunnels/web")
    with pytest.raises(TunnelNotFoundError):
        client.stop_tunnel("nope")


def test_list_requests_newest_first(client: AgentClient) -> None:
    reqs = client.list_requests()
    assert len(reqs) == 12 and all(isinstance(r, CapturedRequest) for r in reqs)
    assert reqs[0].request.uri == "/?conn=2" and reqs[-1].path == "/search"
    assert [r["id"] for r in client.list_requests_raw()] == [r.id for r in reqs]


def test_list_requests_params(client: AgentClient, fixture_agent: FixtureAgentServer) -> None:
    three = client.list_requests(limit=3)
    assert [r.id for r in three] == [e["id"] for e in load_json("requests-limit-3")["requests"]]
    assert fixture_agent.calls[-1][1] == "/api/requests/http?limit=3"
    assert client.list_requests(tunnel_name="nope") == []
    assert fixture_agent.calls[-1][1] == "/api/requests/http?tunnel_name=nope"
    assert len(client.list_requests(tunnel_name="eb")) == 12  # the agent matches substrings
    assert client.list_requests(limit=-1) == []
    assert len(client.list_requests(limit=ALL)) == 12
    client.list_requests()
    assert fixture_agent.calls[-1][1] == "/api/requests/http"  # no limit sent by default


def test_get_request(client: AgentClient) -> None:
    r = client.get_request(WEBHOOK_ID)
    assert r.id == WEBHOOK_ID and r.request.body.json["event"] == "push"
    assert client.get_request_raw(WEBHOOK_ID) == load_json("request-by-id")


def test_get_unknown_request(client: AgentClient) -> None:
    with pytest.raises(RequestNotFoundError) as e:
        client.get_request("airt_doesnotexist")
    err = e.value
    assert err.request_id == "airt_doesnotexist" and err.exit_code == ExitCode.NOT_FOUND
    assert (err.status_code, err.error_code) == (404, 106)
    assert "airt_doesnotexist" in err.message and err.hint


def test_replay_adds_a_replayed_entry(
    client: AgentClient, fixture_agent: FixtureAgentServer
) -> None:
    client.replay(WEBHOOK_ID)
    method, path, body = fixture_agent.calls[-1]
    assert (method, path) == ("POST", "/api/requests/http")
    assert json.loads(body) == {"id": WEBHOOK_ID, "tunnel_name": None}
    newest = client.list_requests(limit=1)[0]
    assert newest.replayed and newest.request.uri == "/webhook?source=test"
    client.replay(WEBHOOK_ID, tunnel_name="web")
    assert json.loads(fixture_agent.calls[-1][2]) == {"id": WEBHOOK_ID, "tunnel_name": "web"}


def test_replay_unknown_id(client: AgentClient) -> None:
    with pytest.raises(RequestNotFoundError) as e:
        client.replay("airt_nothere")
    assert e.value.request_id == "airt_nothere"


def test_delete_requests(client: AgentClient) -> None:
    assert client.list_requests()
    client.delete_requests()
    assert client.list_requests() == []


def test_resolve_id(client: AgentClient) -> None:
    assert client.resolve_id("last") == "airt_3Mk9FnMCUO6FVwLDSH9S0NIhaMS"
    assert client.resolve_id(WEBHOOK_ID) == WEBHOOK_ID
    assert client.resolve_id("airt_3Mk9EW") == WEBHOOK_ID
    assert client.resolve_id("3Mk9EW") == WEBHOOK_ID  # prefix without airt_
    with pytest.raises(AmbiguousIdError) as e:
        client.resolve_id("3Mk9F")
    expected = [
        x["id"] for x in load_json("requests")["requests"] if x["id"].startswith("airt_3Mk9F")
    ]
    assert e.value.exit_code == ExitCode.USAGE and e.value.candidates == expected
    with pytest.raises(RequestNotFoundError):
        client.resolve_id("zzz")
    client.delete_requests()
    with pytest.raises(RequestNotFoundError, match="'last'"):
        client.resolve_id("last")
    with pytest.raises(UsageError):
        client.resolve_id("  ")


def test_agent_error_400_carries_the_agent_fields(client: AgentClient) -> None:
    # an HTTP call the public API cannot make wrong on purpose: a non-integer limit
    with pytest.raises(AgentError) as e:
        client._call("GET", "/api/requests/http", params={"limit": "abc"})
    err = e.value
    assert type(err) is AgentError and err.exit_code == ExitCode.AGENT_ERROR
    assert err.status_code == 400 and err.msg == "failed to deserialize request parameter"
    assert "limit" in err.details["err"]
    assert err.message == (
        f"the agent at {client.base_url} answered 400 Bad Request: "
        "failed to deserialize request parameter"
    )
    # "check the arguments" points at what the agent said was wrong, not at a hidden field
    assert err.hint is not None and "(details: err=" in err.hint and "limit" in err.hint


def test_unknown_path_is_not_found(client: AgentClient) -> None:
    with pytest.raises(NotFoundError) as e:
        client._call("GET", "/api/endpoints")
    assert e.value.details == {"path": "/api/endpoints"}


def test_empty_ids_are_usage_errors(client: AgentClient) -> None:
    for call in (
        lambda: client.get_request(""),
        lambda: client.replay(""),
        lambda: client.tunnel(""),
    ):
        with pytest.raises(UsageError):
            call()


# -- failure modes -----------------------------------------------------------------------

CALLS: dict[str, Callable[[AgentClient], object]] = {
    "list_requests": lambda c: c.list_requests(),
    "get_request": lambda c: c.get_request(WEBHOOK_ID),
    "tunnels": lambda c: c.tunnels(),
    "status": lambda c: c.status(),
    "replay": lambda c: c.replay(WEBHOOK_ID),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_connection_refused(broken_server: Callable[[str], str], call: str) -> None:
    url = broken_server("refuse")
    with pytest.raises(AgentUnreachableError) as e:
        CALLS[call](AgentClient(url, timeout=2))
    err = e.value
    assert type(err) is AgentUnreachableError and err.exit_code == ExitCode.UNREACHABLE
    assert err.url == url and err.reason == "connection refused"
    assert str(err) == f"no ngrok agent at {url} (connection refused)"


def test_server_that_never_answers(broken_server: Callable[[str], str]) -> None:
    url = broken_server("hang")
    with pytest.raises(AgentTimeoutError) as e:
        AgentClient(url, timeout=0.3).list_requests()
    assert e.value.timeout == 0.3 and e.value.exit_code == ExitCode.UNREACHABLE
    assert "0.3s" in e.value.message


@pytest.mark.parametrize(
    ("mode", "call", "reason"),
    [
        ("html500", "list_requests", "HTTP 500 Internal Server Error with a text/html body"),
        ("html500", "status", "HTTP 500 Internal Server Error with a text/html body"),
        ("untyped500", "list_requests", "HTTP 500 Internal Server Error with a body without a"),
        ("truncated_json", "list_requests", "cut off"),
        ("not_json", "list_requests", "not JSON (text/plain"),
        ("not_json", "tunnels", "not JSON (text/plain"),
        ("no_requests_key", "list_requests", "no 'requests' list"),
        ("no_requests_key", "tunnels", "no 'tunnels' list"),
        ("no_requests_key", "get_request", "without 'id'"),
        ("empty_200", "list_requests", "empty body with HTTP 200"),
        ("empty_200", "get_request", "empty body"),
    ],
)
def test_unreadable_answers(
    broken_server: Callable[[str], str], mode: str, call: str, reason: str
) -> None:
    url = broken_server(mode)
    with pytest.raises(InvalidResponseError) as e:
        CALLS[call](AgentClient(url, timeout=2))
    err = e.value
    assert err.exit_code == ExitCode.AGENT_ERROR
    assert reason in err.reason and err.url.startswith(url)
    assert err.hint and "--api-url" in err.hint


def test_status_of_a_json_server_that_is_not_an_agent(broken_server: Callable[[str], str]) -> None:
    # answers JSON everywhere but /api/status is fine JSON: taken as the status
    url = broken_server("no_requests_key")
    st = AgentClient(url, timeout=2).status()
    assert st.status == "unknown" and st.uri == "/api/status"


def test_error_messages_carry_no_captured_data(fixture_agent: FixtureAgentServer) -> None:
    with AgentClient(fixture_agent.url) as c:
        try:
            c.replay("airt_doesnotexist")
        except RequestNotFoundError as e:
            text = f"{e.message} {e.hint}"
        assert "push" not in text and "refs/heads" not in text
