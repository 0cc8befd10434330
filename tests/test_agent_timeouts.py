"""Bounded in time: a head must arrive within the header timeout, a body must keep coming.

Raw sockets trickle bytes; the timeouts are lowered well under a second, and the tests
wait for the agent to close the connection (a generous bound, never a timing assert).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from ngrok_inspect.local_agent import LocalAgent
from tests.support.raw_client import read_until_closed
from tests.support.raw_upstream import RecordingUpstream, ok

BOUND = 30.0  # seconds a test waits for the agent to close; far above any timeout here


def connect(public_url: str) -> socket.socket:
    host, port = public_url.split("//")[1].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=BOUND)
    return s


def trickle(s: socket.socket, data: bytes, stop: threading.Event, pace: float) -> None:
    """Send ``data`` one byte every ``pace`` seconds until it is sent, the agent closes
    the connection, or ``stop`` is set (the attacker's pace, not a test's wait)."""
    for i in range(len(data)):
        if stop.wait(pace):
            return
        try:
            s.sendall(data[i : i + 1])
        except OSError:
            return


def entries(agent: LocalAgent) -> list[dict[str, Any]]:
    r = requests.get(agent.api_url + "/api/requests/http", timeout=10)
    return list(r.json()["requests"])


@pytest.fixture
def upstream() -> Iterator[RecordingUpstream]:
    up = RecordingUpstream(lambda i, seen: ok(b"fine"))
    yield up
    up.close()


def test_a_head_sent_one_byte_at_a_time_is_cut_at_the_header_timeout(
    upstream: RecordingUpstream,
) -> None:
    head = b"GET /slow HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 2000 + b"\r\n\r\n"
    stop = threading.Event()
    with LocalAgent(upstream.url, header_timeout=0.3) as agent, connect(agent.public_url) as s:
        sender = threading.Thread(target=trickle, args=(s, head, stop, 0.01), daemon=True)
        sender.start()
        try:
            answer = read_until_closed(s)  # bytes were still coming: the whole head is timed
        finally:
            stop.set()
            sender.join(timeout=BOUND)
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        assert b"Connection: close" in answer
        assert upstream.seen == []  # nothing was forwarded, nothing recorded
        assert entries(agent) == []


def test_a_connection_that_never_sends_is_closed(upstream: RecordingUpstream) -> None:
    with LocalAgent(upstream.url, header_timeout=0.2) as agent, connect(agent.public_url) as s:
        assert read_until_closed(s) == b""  # nothing came, so no 408 either


def test_a_kept_alive_connection_may_idle_longer_than_the_header_timeout(
    upstream: RecordingUpstream,
) -> None:
    request = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    with LocalAgent(upstream.url, header_timeout=0.3) as agent:
        with connect(agent.public_url) as kept:
            kept.sendall(request)
            assert kept.recv(65536).endswith(b"fine")
            # a connection opened after `kept` went idle is cut by the header timeout...
            with connect(agent.public_url) as later:
                assert read_until_closed(later) == b""
            # ...while `kept` idles: its next request's clock starts at its first byte
            kept.sendall(request)
            assert kept.recv(65536).endswith(b"fine")
        assert len(upstream.seen) == 2


def test_the_header_timer_starts_again_with_the_next_requests_first_byte(
    upstream: RecordingUpstream,
) -> None:
    stop = threading.Event()
    with LocalAgent(upstream.url, header_timeout=0.3) as agent, connect(agent.public_url) as s:
        s.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(65536).endswith(b"fine")
        partial = b"GET /b HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 2000
        sender = threading.Thread(target=trickle, args=(s, partial, stop, 0.01), daemon=True)
        sender.start()
        try:
            assert read_until_closed(s).startswith(b"HTTP/1.1 408 ")
        finally:
            stop.set()
            sender.join(timeout=BOUND)
        assert [seen.request_line for seen in upstream.seen] == [b"GET /a HTTP/1.1"]


def test_a_body_that_stops_coming_is_cut_and_recorded_as_408(upstream: RecordingUpstream) -> None:
    with LocalAgent(upstream.url, body_timeout=0.3) as agent, connect(agent.public_url) as s:
        s.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nten bytes!")
        answer = read_until_closed(s)
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        [e] = entries(agent)
        assert e["response"]["status_code"] == 408
        assert "no request body byte for 0.3 s" in e["error"]
        assert "10 of 1000" in e["error"]
        assert upstream.seen == []  # a small body is read whole: the upstream got nothing


def test_a_streamed_body_that_stops_coming_is_cut_and_recorded_as_408() -> None:
    never = RecordingUpstream(lambda i, seen: ok(b"never sent: the body never completes"))
    try:
        with LocalAgent(never.url, body_timeout=0.3) as agent, connect(agent.public_url) as s:
            s.sendall(b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
            s.sendall(b"x" * 200_000)  # streamed on to the upstream, then nothing more
            answer = read_until_closed(s)
            assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
            [e] = entries(agent)
            assert e["response"]["status_code"] == 408
            assert "no request body byte" in e["error"]
            assert "200000 of 1000000" in e["error"]
    finally:
        never.close()


def test_a_slow_but_steady_body_is_not_cut(upstream: RecordingUpstream) -> None:
    body = b"b" * 40
    stop = threading.Event()
    with LocalAgent(upstream.url, body_timeout=1.0) as agent, connect(agent.public_url) as s:
        s.sendall(b"POST /drip HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n")
        # 40 bytes 50 ms apart: 2 s in all, twice the timeout, never idle for long
        trickle(s, body, stop, 0.05)
        answer = s.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert upstream.seen[0].body == body
        [e] = entries(agent)
        assert e["response"]["status_code"] == 200 and "error" not in e


def test_the_limits_defaults_are_the_documented_ones() -> None:
    import inspect
    from pathlib import Path

    from ngrok_inspect.cli.cmd_agent import agent_command
    from ngrok_inspect.local_agent import limits
    from ngrok_inspect.local_agent.config import parse_size

    doc = (Path(__file__).parent.parent / "docs" / "local-agent.md").read_text("utf-8")
    assert f"| Request head (header timeout) | {limits.DEFAULT_HEADER_TIMEOUT:g} s |" in doc
    assert f"| Request body idle (body timeout) | {limits.DEFAULT_BODY_TIMEOUT:g} s |" in doc
    send = limits.DEFAULT_SEND_TIMEOUT
    assert f"| Client not reading an answer (send timeout) | {send:g} s |" in doc
    budget_mib = limits.DEFAULT_INFLIGHT_BUDGET // 1024**2
    assert f"| Body bytes of all captures in flight | {budget_mib} MiB |" in doc
    assert f"({limits.connection_cap(1024)} at 1024)" in doc
    library = inspect.signature(LocalAgent).parameters
    assert library["header_timeout"].default == limits.DEFAULT_HEADER_TIMEOUT
    assert library["body_timeout"].default == limits.DEFAULT_BODY_TIMEOUT
    assert library["send_timeout"].default == limits.DEFAULT_SEND_TIMEOUT
    assert library["inflight_budget"].default == limits.DEFAULT_INFLIGHT_BUDGET
    cli = inspect.signature(agent_command).parameters
    assert cli["header_timeout"].default == limits.DEFAULT_HEADER_TIMEOUT
    assert cli["body_timeout"].default == limits.DEFAULT_BODY_TIMEOUT
    assert cli["send_timeout"].default == limits.DEFAULT_SEND_TIMEOUT
    assert parse_size(cli["inflight_budget"].default) == limits.DEFAULT_INFLIGHT_BUDGET
