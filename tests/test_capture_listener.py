"""The public capture-listener hook: once per completed capture, off the proxy's path."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import aiohttp
import requests

from ngrok_inspect.client import ALL, AgentClient
from ngrok_inspect.local_agent import LocalAgent, TunnelSpec
from ngrok_inspect.models import CapturedRequest
from tests.support.live import Upstream, send_traffic


def test_each_completed_capture_reaches_the_listener_once(upstream: Upstream) -> None:
    got: list[CapturedRequest] = []
    with LocalAgent(upstream.url, on_capture=got.append) as agent:
        sent = send_traffic(agent.public_url)
        held = AgentClient(agent.api_url).list_requests(limit=ALL)
    # stop() delivered what was still queued
    assert len(held) == len(sent) == 12
    assert sorted(r.id for r in got) == sorted(r.id for r in held)
    assert all(not r.pending and r.response is not None for r in got)
    by_id = {r.id: r for r in held}
    for r in got:  # the finished record, as the API shows it
        assert r.status_code == by_id[r.id].status_code
        assert r.request.raw == by_id[r.id].request.raw
        assert r.response is not None and r.response.raw == by_id[r.id].response.raw  # type: ignore[union-attr]


def test_a_listener_that_raises_never_breaks_proxying(upstream: Upstream) -> None:
    calls: list[str] = []

    def broken(req: CapturedRequest) -> None:
        calls.append(req.id)
        raise RuntimeError("listener bug")

    kept: list[CapturedRequest] = []
    with LocalAgent(upstream.url, on_capture=broken) as agent:
        agent.add_capture_listener(kept.append)
        for i in range(5):
            r = requests.get(f"{agent.public_url}/search?q={i}", timeout=10)
            assert r.status_code == 200
    assert len(calls) == 5
    assert [r.request.uri for r in kept] == [f"/search?q={i}" for i in range(5)]


def test_a_stuck_listener_never_holds_up_traffic(upstream: Upstream) -> None:
    release = threading.Event()
    seen: list[str] = []

    def stuck(req: CapturedRequest) -> None:
        release.wait(30)
        seen.append(req.request.uri)

    with LocalAgent(upstream.url, on_capture=stuck) as agent:
        # answered while the listener still waits on its first capture
        codes = [
            requests.get(f"{agent.public_url}/n/{i}", timeout=10).status_code for i in range(20)
        ]
        assert codes == [200] * 20
        assert seen == []
        release.set()
    assert seen == [f"/n/{i}" for i in range(20)]


def test_replays_are_delivered_and_uninspected_tunnels_are_not(upstream: Upstream) -> None:
    got: list[CapturedRequest] = []
    tunnels = [
        TunnelSpec("seen", addr=upstream.url),
        TunnelSpec("hidden", addr=upstream.url, inspect=False),
    ]
    with LocalAgent(tunnels=tunnels, on_capture=got.append) as agent:
        seen_url, hidden_url = (t.public_url for t in agent.tunnels)
        assert requests.post(seen_url + "/webhook", json={"a": 1}, timeout=10).status_code == 201
        assert requests.get(hidden_url + "/search", timeout=10).status_code == 200
        with AgentClient(agent.api_url) as client:
            [first] = client.list_requests()
            client.replay(first.id)
    assert [(r.tunnel_name, r.remote_addr, r.path) for r in got] == [
        ("seen", "127.0.0.1", "/webhook"),
        ("seen", "replayed", "/webhook"),
    ]


def test_a_removed_listener_is_not_called_again(upstream: Upstream) -> None:
    got: list[Any] = []
    with LocalAgent(upstream.url) as agent:
        done = threading.Event()
        agent.add_capture_listener(got.append)
        agent.add_capture_listener(lambda r: done.set())
        requests.get(agent.public_url + "/one", timeout=10)
        assert done.wait(10)  # /one delivered: now remove the first listener
        agent.remove_capture_listener(got.append)
        requests.get(agent.public_url + "/two", timeout=10)
    assert [r.request.uri for r in got] == ["/one"]
    assert agent.captures_dropped == 0


def test_a_websocket_handshake_is_delivered_as_its_101(upstream: Upstream) -> None:
    got: list[CapturedRequest] = []
    done = threading.Event()

    async def talk(url: str) -> str:
        async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
            await ws.send_str("hi")
            return str((await ws.receive(timeout=5)).data)

    def listen(req: CapturedRequest) -> None:
        got.append(req)
        done.set()

    with LocalAgent(upstream.url, on_capture=listen) as agent:
        assert asyncio.run(talk(agent.public_url.replace("http", "ws") + "/ws")) == "echo: hi"
        assert done.wait(10)  # delivered once the handshake finished, frames still flowing
    [ws] = got
    assert ws.status_code == 101 and ws.request.header("Upgrade") == "websocket"
