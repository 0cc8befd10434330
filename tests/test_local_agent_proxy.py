"""The capture proxy: wire-exact capture, forwarding rules, failures, limits, robustness."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
from typing import Any

import aiohttp
import pytest
import requests

from ngrok_inspect.local_agent import LocalAgent, TunnelSpec
from tests.support.live import Upstream


def entries(agent: LocalAgent, query: str = "?limit=1000") -> list[dict[str, Any]]:
    r = requests.get(agent.api_url + "/api/requests/http" + query, timeout=10)
    assert r.status_code == 200
    return list(r.json()["requests"])


def raw(message: dict[str, Any]) -> bytes:
    return base64.b64decode(message["raw"])


def wait_until(predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def send_raw(public_url: str, data: bytes, read: bool = True) -> bytes:
    host, port = public_url.split("//")[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(data)
        if not read:
            return b""
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_raw_request_is_the_wire_form_in_wire_order(local_agent: LocalAgent) -> None:
    url = local_agent.tunnels[0].public_url
    wire = (
        b"PATCH /p/a%20th?x=1&y=%2F HTTP/1.1\r\nhost: example.test\r\nx-lower: v\r\n"
        b"Content-Type: text/plain\r\nX-Dup: 1\r\nX-Dup: 2\r\nContent-Length: 5\r\n"
        b"Connection: close\r\n\r\nhello"
    )
    answer = send_raw(url, wire)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    [e] = entries(local_agent)
    assert raw(e["request"]) == wire
    assert e["request"]["uri"] == "/p/a%20th?x=1&y=%2F"
    assert e["request"]["headers"]["Host"] == ["example.test"]
    assert e["request"]["headers"]["X-Lower"] == ["v"]  # canonical names in the map
    assert e["request"]["headers"]["X-Dup"] == ["1", "2"]
    echo = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert echo["body"] == "hello" and echo["path"] == "/p/a th"


def test_chunked_request_is_captured_as_sent_and_forwarded_whole(local_agent: LocalAgent) -> None:
    url = local_agent.tunnels[0].public_url
    wire = (
        b"POST /chunky HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n"
        b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
    )
    answer = send_raw(url, wire)
    echo = (
        json.loads(answer.partition(b"\r\n\r\n")[2].split(b"\r\n", 1)[-1].rsplit(b"\r\n0", 1)[0])
        if b"chunked" in answer.split(b"\r\n\r\n")[0].lower()
        else json.loads(answer.partition(b"\r\n\r\n")[2])
    )
    assert echo["body"] == "hello, world"
    [e] = entries(local_agent)
    assert raw(e["request"]) == wire
    assert (
        "Transfer-Encoding" not in e["request"]["headers"]
    )  # as Go's agent: framing, not a header


def test_chunked_response_keeps_its_framing(local_agent: LocalAgent) -> None:
    r = requests.get(local_agent.tunnels[0].public_url + "/chunked", timeout=10)
    assert r.text == "alpha beta gamma"
    [e] = entries(local_agent)
    body = raw(e["response"]).partition(b"\r\n\r\n")[2]
    assert body.endswith(b"0\r\n\r\n")
    assert b"alpha " in body and body != b"alpha beta gamma"
    assert b"Transfer-Encoding: chunked" in raw(e["response"])


def test_forwarded_headers_and_hop_by_hop(local_agent: LocalAgent) -> None:
    url = local_agent.tunnels[0].public_url
    r = requests.get(
        url + "/echo",
        headers={
            "Connection": "keep-alive, X-Hop",
            "X-Hop": "secret-per-hop",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "X-Forwarded-For": "203.0.113.9",
            "X-Keep": "yes",
        },
        timeout=10,
    )
    seen = {k.lower(): v for k, v in r.json()["headers"]}
    assert seen["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == url.split("//")[1]
    assert seen["host"] == url.split("//")[1]  # Host passes unchanged
    assert seen["x-keep"] == "yes"
    for hop in ("x-hop", "keep-alive", "te"):
        assert hop not in seen
    [e] = entries(local_agent)
    assert e["request"]["headers"]["X-Hop"] == ["secret-per-hop"]  # captured as received
    assert b"X-Forwarded-Proto" not in raw(e["request"])


def test_upstream_down_is_answered_and_recorded_as_502() -> None:
    with LocalAgent(f"127.0.0.1:{free_port()}") as agent:
        r = requests.post(agent.tunnels[0].public_url + "/hook", data=b"abc", timeout=10)
        assert r.status_code == 502
        assert r.headers["Ngrok-Error-Code"] == "ERR_NGROK_8012"
        [e] = entries(agent)
        assert e["response"]["status"] == "502 Bad Gateway" and e["response"]["status_code"] == 502
        assert raw(e["response"]).startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
        assert raw(e["request"]).endswith(b"\r\n\r\nabc")


def test_slow_upstream_gives_504_and_the_entry_is_pending_meanwhile(upstream: Upstream) -> None:
    with LocalAgent(upstream.url, upstream_timeout=0.5) as agent:
        result: dict[str, Any] = {}
        t = threading.Thread(
            target=lambda: result.update(
                r=requests.get(agent.tunnels[0].public_url + "/slow?ms=3000", timeout=10)
            )
        )
        t.start()
        pending = wait_until(lambda: entries(agent))
        assert pending[0]["response"] is None  # visible while the upstream thinks
        t.join()
        assert result["r"].status_code == 504
        [e] = entries(agent)
        assert e["response"]["status_code"] == 504 and e["duration"] >= 0.5e9


def test_capture_limit_cuts_the_record_but_not_the_traffic(upstream: Upstream) -> None:
    with LocalAgent(upstream.url, capture_limit=1000) as agent:
        r = requests.post(agent.tunnels[0].public_url + "/upload", data=b"x" * 300_000, timeout=10)
        assert r.json() == {"received": 300_000}
        big = requests.get(agent.tunnels[0].public_url + "/large", timeout=10)
        assert len(big.content) == 200_000
        large, upload = entries(agent)
        assert upload["request"]["headers"]["Content-Length"] == ["300000"]
        assert len(raw(upload["request"]).partition(b"\r\n\r\n")[2]) == 1000
        assert len(raw(large["response"]).partition(b"\r\n\r\n")[2]) == 1000
        # a cut body is never replayed as if it were whole
        r = requests.post(
            agent.api_url + "/api/requests/http", json={"id": upload["id"]}, timeout=10
        )
        assert r.status_code == 400 and r.json()["details"]["id"] == upload["id"]
        assert len(entries(agent)) == 2


def test_store_evicts_the_oldest_first(upstream: Upstream) -> None:
    with LocalAgent(upstream.url, inspect_db_size=100_000) as agent:
        with requests.Session() as s:
            for i in range(12):
                s.post(
                    f"{agent.tunnels[0].public_url}/upload?i={i}", data=b"x" * 20_000, timeout=10
                )
        kept = [e["request"]["uri"] for e in entries(agent)]
        assert 1 <= len(kept) < 12
        assert kept == [f"/upload?i={i}" for i in range(11, 11 - len(kept), -1)]  # the newest


def test_request_bin_without_upstream() -> None:
    with LocalAgent() as agent:
        r = requests.post(agent.tunnels[0].public_url + "/anything?x=1", json={"a": 1}, timeout=10)
        assert r.status_code == 200
        [e] = entries(agent)
        assert r.json() == {"ok": True, "id": e["id"]}
        assert raw(e["request"]).endswith(b'{"a": 1}')
        assert e["response"]["status_code"] == 200
        assert (
            requests.post(
                agent.api_url + "/api/requests/http", json={"id": e["id"]}, timeout=10
            ).status_code
            == 204
        )
        assert entries(agent)[0]["remote_addr"] == "replayed"


def test_inspect_false_forwards_without_capturing(upstream: Upstream) -> None:
    specs = [TunnelSpec("seen", upstream.url), TunnelSpec("hidden", upstream.url, inspect=False)]
    with LocalAgent(tunnels=specs) as agent:
        assert requests.get(agent.tunnels[1].public_url + "/secret", timeout=10).status_code == 200
        assert requests.get(agent.tunnels[0].public_url + "/open", timeout=10).status_code == 200
        assert [e["tunnel_name"] for e in entries(agent)] == ["seen"]
        tunnels = requests.get(agent.api_url + "/api/tunnels", timeout=10).json()["tunnels"]
        hidden = next(t for t in tunnels if t["name"] == "hidden")
        assert hidden["config"]["inspect"] is False
        assert hidden["metrics"]["http"]["count"] == 1


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Host": "evil.example"}, 403),
        ({"Host": "evil.example:4040"}, 403),
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Host": "localhost:4040", "Origin": "http://localhost:3000"}, 403),  # another site
        ({"Host": "localhost:4040", "Origin": "http://localhost:4040"}, 200),
        ({"Host": "[::1]:4040"}, 200),
        ({"Host": "app.localhost"}, 200),
    ],
)
def test_api_refuses_foreign_hosts_and_origins(
    local_agent: LocalAgent, headers: dict[str, str], status: int
) -> None:
    r = requests.get(local_agent.api_url + "/api/tunnels", headers=headers, timeout=10)
    assert r.status_code == status
    if status == 403:
        assert set(r.json()) == {"status_code", "msg", "details"}
        assert r.json()["status_code"] == 403


@pytest.mark.parametrize("target", ["proxy", "api"])
def test_garbage_and_huge_headers_fail_the_request_not_the_agent(
    local_agent: LocalAgent, target: str
) -> None:
    url = local_agent.tunnels[0].public_url if target == "proxy" else local_agent.api_url
    assert (
        send_raw(url, b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
        .split(b"\r\n")[0]
        .endswith(b" 400 Bad Request")
    )
    huge = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * (1024 * 1024) + b"\r\n\r\n"
    try:
        answer = send_raw(url, huge)
        assert answer == b"" or answer.split(b" ")[1] in (b"400", b"431")
    except (ConnectionResetError, BrokenPipeError):
        pass
    # client that disconnects mid-body
    send_raw(
        url, b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly-some", read=False
    )
    assert requests.get(local_agent.api_url + "/api", timeout=10).status_code == 200
    assert requests.get(local_agent.tunnels[0].public_url + "/alive", timeout=10).status_code == 200


def test_websocket_passes_through_and_the_handshake_is_a_101_entry(local_agent: LocalAgent) -> None:
    async def talk() -> list[str]:
        async with (
            aiohttp.ClientSession() as s,
            s.ws_connect(local_agent.tunnels[0].public_url.replace("http", "ws") + "/ws") as ws,
        ):
            out = []
            for word in ("one", "two"):
                await ws.send_str(word)
                out.append((await ws.receive(timeout=5)).data)
            return out

    assert asyncio.run(talk()) == ["echo: one", "echo: two"]
    [e] = entries(local_agent)
    assert e["response"]["status_code"] == 101
    assert e["response"]["status"] == "101 Switching Protocols"
    assert e["request"]["headers"]["Upgrade"] == ["websocket"]


def test_200_concurrent_clients_each_answered_and_captured_once(local_agent: LocalAgent) -> None:
    url = local_agent.tunnels[0].public_url

    async def one(s: aiohttp.ClientSession, i: int) -> int:
        async with s.post(f"{url}/c?i={i}", data=f"body-{i}".encode()) as r:
            body = await r.json()
            assert body["body"] == f"body-{i}"
            return r.status

    async def many() -> list[int]:
        conn = aiohttp.TCPConnector(limit=200)
        async with aiohttp.ClientSession(connector=conn) as s:
            return await asyncio.gather(*(one(s, i) for i in range(200)))

    assert asyncio.run(many()) == [200] * 200
    uris = [e["request"]["uri"] for e in entries(local_agent)]
    assert sorted(uris) == sorted(f"/c?i={i}" for i in range(200))
    assert all(e["response"]["status_code"] == 200 for e in entries(local_agent))


def test_api_port_fallback_and_bind_errors(upstream: Upstream) -> None:
    from ngrok_inspect.errors import UsageError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with LocalAgent(upstream.url, web_addr=f"127.0.0.1:{port}", web_addr_tries=10) as agent:
            assert not agent.api_url.endswith(f":{port}")
            got = int(agent.api_url.rsplit(":", 1)[1])
            assert port < got < port + 10
        with pytest.raises(UsageError, match="cannot serve the agent API"):
            LocalAgent(upstream.url, web_addr=f"127.0.0.1:{port}").start()
        with pytest.raises(UsageError, match="cannot listen"):
            LocalAgent(upstream.url, listen=f"127.0.0.1:{port}").start()


@pytest.mark.parametrize("bad", ["http://", "ftp://x:1", "x:notaport", "http://h:1/path"])
def test_bad_upstreams_are_usage_errors(bad: str) -> None:
    from ngrok_inspect.errors import UsageError

    with pytest.raises(UsageError):
        LocalAgent(bad)


def test_stop_closes_the_listeners(upstream: Upstream) -> None:
    agent = LocalAgent(upstream.url).start()
    url, api_url = agent.tunnels[0].public_url, agent.api_url
    agent.stop()
    agent.stop()  # idempotent
    for u in (url, api_url):
        with pytest.raises(requests.ConnectionError):
            requests.get(u + "/api", timeout=5)


def test_metrics_count_connections_and_requests(local_agent: LocalAgent) -> None:
    with requests.Session() as s:
        for _ in range(3):
            s.get(local_agent.tunnels[0].public_url + "/m", timeout=10)

    def metrics() -> Any:
        [t] = requests.get(local_agent.api_url + "/api/tunnels", timeout=10).json()["tunnels"]
        return t["metrics"]

    m = wait_until(lambda: (lambda m: m if m["conns"]["gauge"] == 0 else None)(metrics()))
    assert m["conns"]["count"] == 1 and m["http"]["count"] == 3
    assert m["conns"]["p50"] > 0 and m["http"]["p50"] > 0


def test_expect_100_continue_is_answered_by_the_agent(local_agent: LocalAgent) -> None:
    host, port = local_agent.tunnels[0].public_url.split("//")[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(
            b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
            b"Connection: close\r\n\r\n"
        )
        assert s.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        s.sendall(b"hello")
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    echo = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert echo["body"] == "hello"
    assert "expect" not in {k.lower() for k, _ in echo["headers"]}
    [e] = entries(local_agent)
    assert b"Expect: 100-continue" in raw(e["request"])


class RawUpstream:
    """A socket server answering requests with fixed bytes. ``keep``: how many requests a
    connection answers before it closes on the next one without answering (0: it
    answers one and closes at once) - a keep-alive connection going stale in flight."""

    def __init__(self, answer: bytes, keep: int) -> None:
        self.answer = answer
        self.keep = keep
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            for answered in range(max(self.keep, 1) + 1):
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                if answered >= max(self.keep, 1) or (self.keep == 0 and answered):
                    return  # read the request, close without an answer
                conn.sendall(self.answer)
                if self.keep == 0:
                    return

    def close(self) -> None:
        self.sock.close()


def test_body_delimited_by_close_is_forwarded_whole() -> None:
    up = RawUpstream(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody until eof", keep=0)
    try:
        with LocalAgent(up.url) as agent:
            r = requests.get(agent.tunnels[0].public_url + "/eof", timeout=10)
            assert r.content == b"body until eof"
            [e] = entries(agent)
            assert raw(e["response"]).endswith(b"\r\n\r\nbody until eof")
    finally:
        up.close()


def test_a_stale_keep_alive_connection_is_retried_on_a_fresh_one() -> None:
    up = RawUpstream(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", keep=1)
    try:
        with LocalAgent(up.url) as agent:
            url = agent.tunnels[0].public_url
            assert requests.get(url + "/one", timeout=10).content == b"ok"
            # the kept-alive connection dies with the second request in flight
            assert requests.get(url + "/two", timeout=10).content == b"ok"
            assert [e["response"]["status_code"] for e in entries(agent)] == [200, 200]
            assert up.connections == 2
    finally:
        up.close()


def test_head_and_304_have_no_body(local_agent: LocalAgent) -> None:
    url = local_agent.tunnels[0].public_url
    r = requests.head(url + "/large", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Length"] == "200000" and r.content == b""
    again = requests.get(url + "/search?q=1", timeout=10)  # the pooled connection still works
    assert again.json()["query"] == {"q": ["1"]}


def test_an_upstream_answering_garbage_gives_a_recorded_502() -> None:
    up = RawUpstream(b"garbage not http\r\n\r\n", keep=0)
    try:
        with LocalAgent(up.url) as agent:
            r = requests.get(agent.tunnels[0].public_url + "/x", timeout=10)
            assert r.status_code == 502
            assert "not HTTP" in r.text
            [e] = entries(agent)
            assert e["response"]["status"] == "502 Bad Gateway"
    finally:
        up.close()


def test_an_upstream_dying_mid_body_of_a_buffered_answer_is_a_502_to_client_and_record() -> None:
    up = RawUpstream(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten!!", keep=0)
    try:
        with LocalAgent(up.url) as agent:
            r = requests.get(agent.tunnels[0].public_url + "/x", timeout=30)
            assert r.status_code == 502 and "broke off after 10 of 100" in r.text
            [e] = entries(agent)
            assert e["response"]["status_code"] == 502  # what the client got
    finally:
        up.close()


def test_an_upstream_dying_mid_body_cuts_the_client_and_keeps_what_passed() -> None:
    length = 1_000_000  # streamed: the status already went out
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n".encode()
    up = RawUpstream(head + b"only ten!!", keep=0)
    try:
        with LocalAgent(up.url) as agent:
            # the answer was cut upstream: the client's connection is cut too, never a hang
            with pytest.raises(
                (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)
            ):
                requests.get(agent.tunnels[0].public_url + "/x", timeout=30)
            [e] = entries(agent)
            assert e["response"]["headers"]["Content-Length"] == [str(length)]
            assert raw(e["response"]).endswith(b"\r\n\r\nonly ten!!")  # visibly short
            assert requests.get(agent.api_url + "/api", timeout=10).status_code == 200
    finally:
        up.close()
