"""Bounded in memory: captures in flight share one budget beside the store size.

N uploads are left half-sent against an agent in a child process; its resident set
(``/proc/PID/status`` VmRSS) must stay under a bound derived from the settings, while
the uploads' bytes still flow through to the upstream.
"""

from __future__ import annotations

import base64
import socket
import sys
import threading
from typing import Any

import pytest
import requests

from tests.support.agent_process import AgentProcess

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

MiB = 1024**2
N = 16
DECLARED = 12 * MiB
SENT = 6 * MiB  # each upload stops halfway
STORE = 2_000_000
BUDGET = 8 * MiB
# What the agent may hold besides the store and the budget: aiohttp's read buffers and
# socket queues per connection (flow control keeps them to a few 64 KiB pieces) and the
# allocator's slack; far below the N * SENT = 96 MiB the captures would hold unbounded.
PER_CONNECTION = 1 * MiB
SLACK = 24 * MiB


class Sink:
    """An upstream that reads every request and discards its body (answers 200 when a
    body is complete); ``received`` counts the body bytes that reached it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.received = 0
        self.ended = 0  # connections the agent closed or finished
        self.changed = threading.Condition()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        try:
            self._exchange(conn)
        finally:
            conn.close()
            with self.changed:
                self.ended += 1
                self.changed.notify_all()

    def _exchange(self, conn: socket.socket) -> None:
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            head, buf = buf.split(b"\r\n\r\n", 1)
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            self._count(len(buf))
            left = length - len(buf)
            buf = b""
            while left > 0:
                data = conn.recv(min(left, 65536))
                if not data:
                    return
                left -= len(data)
                self._count(len(data))
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def _count(self, n: int) -> None:
        with self.changed:
            self.received += n
            self.changed.notify_all()

    def wait_ended(self, count: int, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.ended >= count, timeout)

    def wait_for(self, total: int, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.received >= total, timeout)

    def close(self) -> None:
        self.sock.close()


def captured_body_bytes(entry: dict[str, Any]) -> int:
    raw = base64.b64decode(entry["request"]["raw"])
    return len(raw.partition(b"\r\n\r\n")[2])


def test_half_sent_uploads_cannot_take_rss_past_store_plus_budget() -> None:
    sink = Sink()
    agent = AgentProcess(
        upstream=sink.url,
        inspect_db_size=STORE,
        inflight_budget=BUDGET,
        capture_limit=16 * MiB,  # so only the shared budget can hold the captures back
        body_timeout=600.0,
    )
    socks: list[socket.socket] = []
    try:
        host, port = agent.public_url.split("//")[1].rsplit(":", 1)
        assert requests.get(agent.public_url + "/warm", timeout=10).status_code == 200
        baseline = agent.rss_bytes()
        half = b"u" * SENT
        for i in range(N):
            s = socket.create_connection((host, int(port)), timeout=60)
            s.sendall(
                b"POST /up/%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (i, DECLARED)
            )
            socks.append(s)
        senders = [threading.Thread(target=s.sendall, args=(half,)) for s in socks]
        for t in senders:
            t.start()
        for t in senders:
            t.join(timeout=120)
        # every byte sent went through the agent to the upstream: all of it was read
        assert sink.wait_for(N * SENT, timeout=120), sink.received
        rss = agent.rss_bytes()
        print(f"RSS {baseline / MiB:.0f} -> {rss / MiB:.0f} MiB")
        bound = baseline + STORE + BUDGET + N * PER_CONNECTION + SLACK
        assert rss < bound, f"RSS {rss / MiB:.0f} MiB, bound {bound / MiB:.0f} MiB"
        listed = requests.get(agent.api_url + "/api/requests/http", timeout=20).json()
        uploads = [e for e in listed["requests"] if e["request"]["uri"].startswith("/up/")]
        assert len(uploads) == N
        assert sum(captured_body_bytes(e) for e in uploads) <= BUDGET
        # the clients give up: their captures are finished and the budget is free again
        ended = sink.ended
        for s in socks:
            s.close()
        socks.clear()
        # the agent records each capture's error before it closes that upstream connection
        # (the close runs on a later turn of its loop), so the sink seeing N closes is the signal
        assert sink.wait_ended(ended + N, timeout=60), sink.ended - ended
        listed = requests.get(agent.api_url + "/api/requests/http", timeout=20).json()
        # (finished, they count against the store, which evicts the oldest of them)
        uploads = [e for e in listed["requests"] if e["request"]["uri"].startswith("/up/")]
        assert all("closed the connection" in e.get("error", "") for e in uploads)
        whole = b"w" * (2 * MiB)
        r = requests.post(agent.public_url + "/after", data=whole, timeout=30)
        assert r.status_code == 200
        listed = requests.get(agent.api_url + "/api/requests/http?limit=1", timeout=20).json()
        [after] = listed["requests"]
        assert captured_body_bytes(after) == len(whole)
    finally:
        for s in socks:
            s.close()
        agent.stop()
        sink.close()
