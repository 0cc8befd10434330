"""The public side's own HTTP/1.1 server (``local_agent/public.py``), byte by byte.

Some pin what aiohttp's server did for the agent before (pipelining, framing, WebSocket
frames behind the handshake); these fail on the aiohttp-based code: a refused head
answered *before* the requests ahead of it on the connection (with the offending bytes
echoed in the 400's body), a declined ``h2c`` upgrade (with or without a body), an
``Upgrade: websocket`` without ``Connection: Upgrade`` and HTTP/1.0 keep-alive (all hung
until the socket timeout), a chunked Upgrade request, and a client that never reads
(held for ever). Raw sockets
on 127.0.0.1 against a real upstream: pipelining in order past the read
back-pressure, the head bounds (414/431/400) after what came before them, a declined
``Upgrade`` that goes on as HTTP/1.1, HTTP/1.0 keep-alive, the agent's own framing of
answers whose length is the upstream connection's end, and WebSocket splicing (bytes
sent right behind the handshake, a refused handshake).
"""

from __future__ import annotations

import base64
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from ngrok_inspect.local_agent import LocalAgent
from ngrok_inspect.local_agent.public import MAX_FIELD, MAX_QUEUED, MAX_TARGET
from tests.support.live import Upstream
from tests.support.raw_client import read_until_closed
from tests.support.raw_upstream import Cut, RecordingUpstream, Seen, ok

BOUND = 30.0


def connect(url: str) -> socket.socket:
    host, port = url.split("//")[1].rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=BOUND)


def entries(agent: LocalAgent) -> list[dict[str, Any]]:
    r = requests.get(agent.api_url + "/api/requests/http?limit=1000", timeout=10)
    return list(r.json()["requests"])


def read_answers(s: socket.socket, n: int, marker: bytes = b"HTTP/1.1 ") -> bytes:
    out = b""
    while out.count(marker) < n or not out.endswith(b"!"):
        data = s.recv(65536)
        assert data, f"closed after {out!r}"
        out += data
    return out


def read_until(s: socket.socket, end: bytes) -> bytes:
    """What the agent sends up to and including ``end`` (the last answer's body)."""
    out = b""
    while not out.endswith(end):
        data = s.recv(65536)
        assert data, f"closed after {out!r}"
        out += data
    return out


@pytest.fixture
def numbered() -> Iterator[RecordingUpstream]:
    """Answers each request with its path and a final ``!``."""
    up = RecordingUpstream(lambda i, seen: ok(seen.request_line.split()[1] + b"!"))
    yield up
    up.close()


def test_pipelined_requests_past_the_read_pause_are_answered_in_order(
    numbered: RecordingUpstream,
) -> None:
    n = MAX_QUEUED * 3  # reading pauses at MAX_QUEUED waiting and must resume
    wire = b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(n))
    with LocalAgent(numbered.url) as agent, connect(agent.public_url) as s:
        s.sendall(wire)
        out = b""
        while out.count(b"!") < n:
            data = s.recv(65536)
            assert data
            out += data
        bodies = [part.rsplit(b"\r\n\r\n", 1)[-1] for part in out.split(b"!")[:-1]]
        assert bodies == [b"/%d" % i for i in range(n)]
        assert [e["request"]["uri"] for e in reversed(entries(agent))] == [
            f"/{i}" for i in range(n)
        ]


@pytest.mark.parametrize(
    ("bad", "status"),
    [
        (b"GET /" + b"a" * MAX_TARGET + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"414 URI Too Long"),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * MAX_FIELD + b"\r\n\r\n",
            b"431 Request Header Fields Too Large",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-F%d: %s\r\n" % (i, b"f" * 4000) for i in range(20))
            + b"\r\n",
            b"431 Request Header Fields Too Large",
        ),
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", b"400 Bad Request"),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"400 Bad Request",
        ),
    ],
    ids=["long-target", "long-field", "big-head", "bad-field-name", "length-and-chunked"],
)
def test_a_refused_head_is_answered_after_the_requests_before_it_then_closed(
    numbered: RecordingUpstream, bad: bytes, status: bytes
) -> None:
    with LocalAgent(numbered.url) as agent, connect(agent.public_url) as s:
        s.sendall(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n" + bad)
        out = read_until_closed(s)
        first, _, rest = out.partition(b"/first!")
        assert first.startswith(b"HTTP/1.1 200 OK\r\n")
        assert rest.startswith(b"HTTP/1.1 " + status + b"\r\n")
        assert b"Connection: close\r\n" in rest
        assert [seen.request_line for seen in numbered.seen] == [b"GET /first HTTP/1.1"]
        assert [e["request"]["uri"] for e in entries(agent)] == ["/first"]


def test_a_declined_upgrade_is_answered_as_http11_and_the_connection_goes_on(
    numbered: RecordingUpstream,
) -> None:
    h2c = (
        b"GET /h2c HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
    )
    with LocalAgent(numbered.url) as agent, connect(agent.public_url) as s:
        s.sendall(h2c + b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        out = read_until(s, b"/after!")
        assert out.count(b"HTTP/1.1 200 OK\r\n") == 2
        assert b"/h2c!" in out
        first = numbered.seen[0]
        assert first.header(b"upgrade") == [] and first.header(b"http2-settings") == []
        assert [seen.request_line for seen in numbered.seen][1] == b"GET /after HTTP/1.1"
        assert len(entries(agent)) == 2


def test_http10_keep_alive_is_kept_and_said_and_plain_http10_is_closed(
    numbered: RecordingUpstream,
) -> None:
    with LocalAgent(numbered.url) as agent:
        with connect(agent.public_url) as s:
            s.sendall(b"GET /k1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            out = read_answers(s, 1)
            assert b"Connection: keep-alive\r\n" in out
            s.sendall(b"GET /k2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            assert read_answers(s, 1).endswith(b"/k2!")
        with connect(agent.public_url) as s:
            s.sendall(b"GET /once HTTP/1.0\r\n\r\n")
            out = read_until_closed(s)
            assert out.endswith(b"/once!") and b"Connection: close\r\n" in out


@pytest.mark.parametrize("version", [b"1.1", b"1.0"])
def test_an_answer_ending_with_the_upstreams_connection_is_framed_for_the_client(
    version: bytes,
) -> None:
    body = os.urandom(100_000)  # above the size read whole: streamed through
    up = RecordingUpstream(lambda i, seen: Cut(b"HTTP/1.1 200 OK\r\n\r\n" + body))
    try:
        with LocalAgent(up.url) as agent, connect(agent.public_url) as s:
            s.sendall(b"GET /eof HTTP/" + version + b"\r\nHost: x\r\n\r\n")
            if version == b"1.1":
                head, _, rest = read_chunked(s)
                assert b"\r\nTransfer-Encoding: chunked" in head + b"\r\n"
                assert rest == body
                s.sendall(b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n")  # still open
                head, _, rest = read_chunked(s)
                assert rest == body
            else:
                out = read_until_closed(s)
                head, _, rest = out.partition(b"\r\n\r\n")
                assert b"Transfer-Encoding" not in head and b"Content-Length" not in head
                assert rest == body
            [e, *_] = entries(agent)
            assert base64.b64decode(e["response"]["raw"]).endswith(body)
    finally:
        up.close()


def read_chunked(s: socket.socket) -> tuple[bytes, bytes, bytes]:
    """A head and its de-chunked body, read to the last chunk."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, _, buf = buf.partition(b"\r\n\r\n")
    body = b""
    while True:
        while b"\r\n" not in buf:
            buf += s.recv(65536)
        size_line, _, buf = buf.partition(b"\r\n")
        size = int(size_line, 16)
        while len(buf) < size + 2:
            buf += s.recv(65536)
        body, buf = body + buf[:size], buf[size + 2 :]
        if size == 0:
            return head, b"", body


# -- WebSocket -------------------------------------------------------------------------


def frame(text: bytes) -> bytes:
    """A masked client text frame (RFC 6455 section 5.2), payload under 126 bytes."""
    mask = os.urandom(4)
    return (
        bytes([0x81, 0x80 | len(text)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(text))
    )


def read_frame(s: socket.socket, buf: bytes) -> tuple[bytes, bytes]:
    """One unmasked server text frame's payload, and what follows it."""
    while len(buf) < 2 or len(buf) < 2 + buf[1]:
        data = s.recv(65536)
        assert data
        buf += data
    n = buf[1]
    return buf[2 : 2 + n], buf[2 + n :]


HANDSHAKE = (
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def test_frames_sent_right_behind_the_handshake_pass_through_unchanged(upstream: Upstream) -> None:
    with LocalAgent(upstream.url) as agent, connect(agent.public_url) as s:
        s.sendall(HANDSHAKE + frame(b"early") + frame(b"bird"))
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(65536)
        head, _, buf = buf.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 ")
        assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
        first, buf = read_frame(s, buf)
        second, buf = read_frame(s, buf)
        assert (first, second) == (b"echo: early", b"echo: bird")
        [e] = entries(agent)
        assert e["response"]["status_code"] == 101
        assert e["request"]["headers"]["Sec-Websocket-Key"] == ["dGhlIHNhbXBsZSBub25jZQ=="]


def test_a_refused_handshake_is_a_recorded_502() -> None:
    def answer(i: int, seen: Seen) -> bytes:
        return b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno"

    up = RecordingUpstream(answer)
    try:
        with LocalAgent(up.url) as agent, connect(agent.public_url) as s:
            s.sendall(HANDSHAKE)
            buf = b""
            while b"</html>" not in buf:
                data = s.recv(65536)
                assert data
                buf += data
            assert buf.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
            assert up.seen[0].header(b"upgrade") == [b"websocket"]
            [e] = entries(agent)
            assert e["response"]["status_code"] == 502
            assert b"WebSocket handshake refused (403)" in base64.b64decode(e["response"]["raw"])
    finally:
        up.close()


# -- the header timeout behind bodies the old tracker followed beside aiohttp ----------

HALF = b"GET /next HTTP/1.1\r\nHost: x\r\nX-Half: "


@pytest.mark.parametrize(
    "before",
    [
        # past the 16 KiB the old tracker kept beside aiohttp's parser
        b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 40000\r\n\r\n" + b"p" * 40000,
        b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"1000\r\n" + b"c" * 0x1000 + b"\r\n" for _ in range(8))
        + b"0\r\n\r\n",
    ],
    ids=["40k-body", "chunked-32k"],
)
def test_a_half_head_behind_a_large_pipelined_body_gets_408(
    upstream: Upstream, before: bytes
) -> None:
    with LocalAgent(upstream.url, header_timeout=0.3) as agent, connect(agent.public_url) as s:
        s.settimeout(10)  # the old fallback was the 75 s keep-alive
        s.sendall(before + HALF)
        out = read_until_closed(s)
        assert out.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"HTTP/1.1 408 Request Timeout\r\n" in out
        assert len(entries(agent)) == 1


# -- a client that does not read --------------------------------------------------------


def test_a_client_that_stops_reading_is_cut_at_the_send_timeout_and_it_is_recorded() -> None:
    size = 64 * 1024**2  # far more than the socket buffers on both sides hold
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size

    def answer(i: int, seen: Seen) -> Cut:
        return Cut(head + b"z" * size)

    up = RecordingUpstream(answer)
    try:
        with LocalAgent(up.url, send_timeout=0.3) as agent:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(BOUND)
            host, port = agent.public_url.split("//")[1].rsplit(":", 1)
            s.connect((host, int(port)))
            with s:
                s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
                # never read: the entry finishes once the agent gives up on this client
                e = wait_for_entry(agent)
                assert e["response"]["status_code"] == 200
                assert e["error"].startswith("the client read nothing for 0.3 s of the answer")
                assert f"of {size} body bytes" in e["error"]
                got = len(read_until_closed(s))
                assert got < size  # cut: the rest never came
    finally:
        up.close()


def wait_for_entry(agent: LocalAgent) -> dict[str, Any]:
    """The first entry once it is finished (its duration set), polled on the API; the
    socket timeouts bound the wait."""
    for _ in range(int(BOUND / 0.05)):
        got = [e for e in entries(agent) if e.get("duration")]
        if got:
            return got[0]
        threading.Event().wait(0.05)
    raise AssertionError("no finished entry")


def test_a_declined_upgrade_with_a_body_forwards_the_body_and_goes_on(
    numbered: RecordingUpstream,
) -> None:
    # llhttp stops at an Upgrade head; the agent declines it and reads the body itself
    post = (
        b"POST /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
        b"Content-Length: 11\r\n\r\n"
    )
    with LocalAgent(numbered.url) as agent, connect(agent.public_url) as s:
        s.sendall(post + b"hello")
        agent.call(lambda: None)  # a turn of the agent's loop: the body comes in two reads
        s.sendall(b" world" + b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        out = read_until(s, b"/after!")
        assert out.count(b"HTTP/1.1 200 OK\r\n") == 2 and b"/up!" in out
        assert [seen.body for seen in numbered.seen] == [b"hello world", b""]
        bodies = [
            base64.b64decode(e["request"]["raw"]).rpartition(b"\r\n\r\n")[2] for e in entries(agent)
        ]
        assert sorted(bodies) == [b"", b"hello world"]


def test_a_websocket_handshake_that_is_not_an_upgrade_is_a_plain_request(
    numbered: RecordingUpstream,
) -> None:
    # no "Connection: Upgrade": not a handshake (RFC 9110 section 7.8); forwarded as a
    # GET without its hop-by-hop Upgrade field, and the connection goes on
    half = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n"
    with LocalAgent(numbered.url) as agent, connect(agent.public_url) as s:
        s.sendall(half + b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        out = read_until(s, b"/next!")
        assert out.count(b"HTTP/1.1 200 OK\r\n") == 2
        assert numbered.seen[0].header(b"upgrade") == []
        assert len(entries(agent)) == 2


def test_a_chunked_upgrade_request_is_refused(numbered: RecordingUpstream) -> None:
    wire = (
        b"POST /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    )
    with LocalAgent(numbered.url) as agent, connect(agent.public_url) as s:
        s.sendall(wire)
        assert read_until_closed(s).startswith(b"HTTP/1.1 400 Bad Request\r\n")
        assert numbered.seen == [] and entries(agent) == []
