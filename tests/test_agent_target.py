"""The tunnel decides where bytes go: CONNECT, absolute-form and userinfo cannot."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator

import pytest
import requests

from ngrok_inspect.local_agent import LocalAgent
from tests.support.raw_upstream import RecordingUpstream, ok


@pytest.fixture
def sentinel() -> Iterator[socket.socket]:
    """A listener that must never see a connection."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    yield s
    s.close()


def exchange(public_url: str, data: bytes) -> bytes:
    host, port = public_url.split("//")[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def untouched(s: socket.socket) -> bool:
    return not select.select([s], [], [], 0)[0]


@pytest.mark.parametrize(
    "line",
    [
        "CONNECT x@127.0.0.1:{port} HTTP/1.1",
        "CONNECT 127.0.0.1:{port} HTTP/1.1",
        "GET x@127.0.0.1:{port}/ HTTP/1.1",
        "GET 127.0.0.1:{port}/ HTTP/1.1",
    ],
)
def test_a_target_that_names_a_host_is_refused_and_recorded(
    sentinel: socket.socket, line: str
) -> None:
    up = RecordingUpstream(lambda i, seen: ok(b"upstream"))
    port = sentinel.getsockname()[1]
    try:
        with LocalAgent(up.url) as agent:
            request = line.format(port=port).encode() + b"\r\nHost: a\r\nConnection: close\r\n\r\n"
            reply = exchange(agent.tunnels[0].public_url, request)
            assert b" 400 " in reply.split(b"\r\n", 1)[0]
            assert untouched(sentinel) and up.seen == []
            if line.startswith("CONNECT"):  # the others the HTTP parser already refuses
                assert str(port).encode() not in reply
                got = requests.get(agent.api_url + "/api/requests/http", timeout=10).json()
                assert [e["response"]["status_code"] for e in got["requests"]] == [400]
    finally:
        up.close()


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("http://127.0.0.1:{port}/x?q=1", b"/x?q=1"),
        ("http://user@127.0.0.1:{port}", b"/"),
        ("//127.0.0.1:{port}/y", b"//127.0.0.1:{port}/y"),
    ],
)
def test_absolute_form_and_double_slash_stay_on_the_tunnels_upstream(
    sentinel: socket.socket, target: str, path: bytes
) -> None:
    up = RecordingUpstream(lambda i, seen: ok(b"upstream"))
    port = sentinel.getsockname()[1]
    try:
        with LocalAgent(up.url) as agent:
            request = b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % (
                target.format(port=port).encode(),
                port,
            )
            reply = exchange(agent.tunnels[0].public_url, request)
            assert reply.endswith(b"upstream")
            assert untouched(sentinel)
            expected = path.replace(b"{port}", str(port).encode())
            assert up.seen[0].request_line == b"GET " + expected + b" HTTP/1.1"
    finally:
        up.close()
