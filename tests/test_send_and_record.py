"""Send an arbitrary request through a local-agent tunnel and capture it as "replayed".

The route is our extension ``POST /api/requests/http/replay``; ``replay ID`` with edits
uses it when the agent is ours, so the edited request is captured. The upstream is a
real socket server that keeps the exact bytes it received.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from ngrok_inspect.client import ALL, AgentClient
from ngrok_inspect.errors import TunnelNotFoundError, UsageError
from ngrok_inspect.local_agent import LocalAgent
from tests.cli_invoke import invoke
from tests.support.servers import FixtureAgentServer
from tests.test_replay_edits import Recorder

BODY = b'{"type":"invoice.paid","data":{"amount":1200}}'


@pytest.fixture
def recorded() -> Iterator[tuple[LocalAgent, Recorder]]:
    upstream = Recorder()
    with LocalAgent(upstream.url, name="hooks") as agent:
        yield agent, upstream
    upstream.close()


def _send(agent: LocalAgent, raw: bytes, tunnel: str = "hooks") -> requests.Response:
    body = {"tunnel_name": tunnel, "raw": base64.b64encode(raw).decode()}
    return requests.post(agent.api_url + "/api/requests/http/replay", json=body, timeout=10)


def test_an_edited_replay_is_captured_as_replayed(recorded: tuple[LocalAgent, Recorder]) -> None:
    agent, upstream = recorded
    r = requests.post(
        agent.public_url + "/hook?a=1", data=BODY, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 202
    api = agent.api_url
    with AgentClient(api) as client:
        [original] = client.list_requests()
    upstream.received.clear()
    r = invoke([
        "replay", original.id, "--json-set", "data.amount=1300", "-H", "X-Edited: yes",
        "--query", "a=2", "--json", "--api-url", api,
    ])  # fmt: skip
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["replay_of"] == original.id and out["status_code"] == 202
    # the upstream saw the edited request, once
    [got] = upstream.received
    head, _, body = got.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /hook?a=2 HTTP/1.1"
    assert b"X-Edited: yes" in lines
    assert json.loads(body) == {"type": "invoice.paid", "data": {"amount": 1300}}
    # ... and the agent captured it as a replay: the only new entry, with those bytes
    with AgentClient(api) as client:
        held = client.list_requests(limit=ALL)
    assert [e.id for e in held] == [out["id"], original.id]
    new = held[0]
    assert new.remote_addr == "replayed" and new.tunnel_name == "hooks"
    assert new.request.uri == "/hook?a=2" and new.status_code == 202
    assert new.request.header("X-Edited") == "yes"
    assert json.loads(new.request.body.data) == {"type": "invoice.paid", "data": {"amount": 1300}}
    assert new.response is not None and new.response.body.data == b"ok"


def test_the_route_answers_201_with_the_new_capture(recorded: tuple[LocalAgent, Recorder]) -> None:
    agent, upstream = recorded
    raw = (
        b"PUT /items/7 HTTP/1.1\r\nHost: example.test\r\nX-Case: KeepMe\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n"
    )
    r = _send(agent, raw)
    assert r.status_code == 201
    rec = r.json()
    assert r.headers["Location"] == rec["uri"] == f"/api/requests/http/{rec['id']}"
    assert rec["remote_addr"] == "replayed" and rec["response"]["status_code"] == 202
    # captured as given (chunked: re-framed as one chunk); forwarded with a Content-Length
    assert base64.b64decode(rec["request"]["raw"]) == (
        b"PUT /items/7 HTTP/1.1\r\nHost: example.test\r\nX-Case: KeepMe\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n0\r\n\r\n"
    )
    [got] = upstream.received
    head, _, body = got.partition(b"\r\n\r\n")
    assert body == b"abcdef"
    assert b"Content-Length: 6" in head.split(b"\r\n")
    assert b"transfer-encoding" not in head.lower()
    assert b"X-Case: KeepMe" in head.split(b"\r\n")
    assert AgentClient(agent.api_url).get_request(rec["id"]).remote_addr == "replayed"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n", "no end of the header block"),
        (b"GET  / HTTP/1.1\r\n\r\n", "request line"),
        (b"GET / HTTP/2\r\n\r\n", "request line"),
        (b"GET /a b HTTP/1.1\r\n\r\n", "request line"),
        (b"GET /\x1b[2J HTTP/1.1\r\n\r\n", "request target"),
        (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc", "Content-Length is 5"),
        (b"POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nab", "Content-Length is 1"),
        (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\na", "one number"),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "both",
        ),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "chunked body"),
        (b"GET / HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n", "folding"),
        (b"GET / HTTP/1.1\r\nBad Name: 1\r\n\r\n", "NAME: VALUE"),
        (b"GET / HTTP/1.1\r\nX-A: a\x00b\r\n\r\n", "control bytes"),
        (b"CONNECT evil.test:443 HTTP/1.1\r\n\r\n", "must be a path"),
        (b"GET evil.test:80 HTTP/1.1\r\n\r\n", "must be a path"),
    ],
)
def test_malformed_requests_are_refused_and_never_sent(
    recorded: tuple[LocalAgent, Recorder], raw: bytes, reason: str
) -> None:
    agent, upstream = recorded
    r = _send(agent, raw)
    assert r.status_code == 400, r.text
    assert r.json()["msg"] == "invalid request to send"
    assert reason in r.json()["details"]["err"]
    assert upstream.received == []
    assert AgentClient(agent.api_url).list_requests() == []


def test_bad_arguments_of_the_route(recorded: tuple[LocalAgent, Recorder]) -> None:
    agent, upstream = recorded
    url = agent.api_url + "/api/requests/http/replay"
    r = requests.post(url, json={"tunnel_name": "hooks", "raw": "%%%"}, timeout=10)
    assert r.status_code == 400 and "base64" in r.json()["details"]["err"]
    r = requests.post(url, json={"raw": ""}, timeout=10)
    assert r.status_code == 400 and "tunnel_name" in r.json()["details"]["err"]
    r = requests.post(url, json=["x"], timeout=10)
    assert r.status_code == 400
    r = _send(agent, b"GET / HTTP/1.1\r\n\r\n", tunnel="nope")
    assert r.status_code == 404 and r.json()["error_code"] == 100
    r = requests.get(url, timeout=10)  # GET of that path is an entry lookup, as before
    assert r.status_code == 404 and r.json()["error_code"] == 106
    assert upstream.received == []


def test_python_api_and_client(recorded: tuple[LocalAgent, Recorder]) -> None:
    agent, upstream = recorded
    rec = agent.send_request(b"DELETE /items/1 HTTP/1.1\r\nHost: h\r\n\r\n")
    assert rec.remote_addr == "replayed" and rec.method == "DELETE" and rec.status_code == 202
    with pytest.raises(TunnelNotFoundError):
        agent.send_request(b"GET / HTTP/1.1\r\n\r\n", "nope")
    with pytest.raises(UsageError):
        agent.send_request(b"not http")
    with AgentClient(agent.api_url) as client:
        assert client.records_sends() is True
        sent = client.send_request(b"GET /c HTTP/1.1\r\nHost: h\r\n\r\n", "hooks")
        assert sent.remote_addr == "replayed" and sent.request.uri == "/c"
        assert [r.id for r in client.list_requests()] == [sent.id, rec.id]
    assert [g.split(b"\r\n")[0] for g in upstream.received] == [
        b"DELETE /items/1 HTTP/1.1",
        b"GET /c HTTP/1.1",
    ]


def test_a_real_ngrok_agent_is_not_taken_for_ours(fixture_agent: FixtureAgentServer) -> None:
    """A 2.x agent (no /api/status) keeps the public-URL path of an edited replay."""
    with AgentClient(fixture_agent.url) as client:
        assert client.records_sends() is False
    assert not any("/api/requests/http/replay" in path for _, path, _ in fixture_agent.calls)


def test_request_bin_tunnels_answer_sends_too() -> None:
    with LocalAgent(None) as agent:
        rec = agent.send_request(b"POST /bin HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi")
    assert rec.status_code == 200 and rec.remote_addr == "replayed"
    answer: dict[str, Any] = json.loads(rec.response.body.data)  # type: ignore[union-attr]
    assert answer == {"ok": True, "id": rec.id}
