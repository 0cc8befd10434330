"""Bounded in connections: a flood of public connections cannot take the API down.

The agent runs in a child process whose file limit is lowered to 256 descriptors; more
trickling connections than that are opened against its public port, and the API must
still answer while they are held open.
"""

from __future__ import annotations

import select
import socket
import sys
import time

import pytest
import requests

from ngrok_inspect.local_agent.limits import connection_cap
from tests.support.agent_process import AgentProcess

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_NOFILE is POSIX")

NOFILE = 256
FLOOD = 300  # more connections than the child has descriptors


def test_the_api_answers_while_the_public_side_is_flooded() -> None:
    cap = connection_cap(NOFILE)
    assert cap is not None and cap < FLOOD
    agent = AgentProcess(nofile=NOFILE, header_timeout=120.0)
    socks: list[socket.socket] = []
    try:
        host, port = agent.public_url.split("//")[1].rsplit(":", 1)
        for _ in range(FLOOD):
            s = socket.create_connection((host, int(port)), timeout=30)
            s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n")  # a head that never ends
            socks.append(s)
        # the API still answers, with the flood held open
        r = requests.get(agent.api_url + "/api/tunnels", timeout=20)
        assert r.status_code == 200
        # the connections beyond the cap were closed at once: answered 503 (a few at a
        # time, kept a moment so the answer arrives) or closed (reset when our head had
        # already arrived); wait for all of them
        refused: dict[socket.socket, bytes] = {}
        deadline = time.monotonic() + 60
        while len(refused) < FLOOD - cap and time.monotonic() < deadline:
            waiting = [s for s in socks if s not in refused]
            readable, _, _ = select.select(waiting, [], [], 1.0)
            for s in readable:
                try:
                    refused[s] = s.recv(65536)
                except ConnectionResetError:
                    refused[s] = b"reset"
        assert len(refused) == FLOOD - cap
        answers = list(refused.values())
        assert all(a.startswith(b"HTTP/1.1 503 ") or a in (b"reset", b"") for a in answers)
        assert any(a.startswith(b"HTTP/1.1 503 ") for a in answers)
        [tunnel] = requests.get(agent.api_url + "/api/tunnels", timeout=20).json()["tunnels"]
        assert tunnel["metrics"]["conns"]["gauge"] == cap  # the held ones are all still open
    finally:
        for s in socks:
            s.close()
        err = agent.stop()
    # said once on the console, not once per refused connection
    assert err.count("public connections are open") == 1, err
    assert f"file limit of {NOFILE}" in err
