"""The header timeout covers every head: pipelined ones, and the API listener's.

A head half-sent behind a request (in the same write, or while that request is being
handled) is answered 408 once the header timeout has passed since that request's
answer, instead of being held by aiohttp's 75 s keep-alive. Raw sockets on 127.0.0.1
against a real upstream; the timeouts are lowered well under a second and the tests
wait for the agent to close the connection (a generous bound, never a timing assert).
A kept-alive connection whose requests all came whole must still idle on: the clock
that proves it is a second connection, opened later, being cut by the same timeout.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from ngrok_inspect.local_agent import LocalAgent
from ngrok_inspect.local_agent.heads import HeadTracker
from tests.support.raw_client import read_until_closed
from tests.support.raw_upstream import RecordingUpstream, Seen, ok

BOUND = 30.0  # seconds a test waits for the agent; far above any timeout here
TIMEOUT = 0.3
ANSWER = ok(b"fine")


def connect(url: str) -> socket.socket:
    host, port = url.split("//")[1].rsplit(":", 1)
    return socket.create_connection((host.strip("[]"), int(port)), timeout=BOUND)


def read_answers(s: socket.socket, n: int) -> bytes:
    """Read until ``n`` whole ``ANSWER``s came (the upstream's fixed answer)."""
    out = b""
    while out.count(b"\r\n\r\nfine") < n:
        data = s.recv(65536)
        assert data, f"closed after {out!r}"
        out += data
    return out


def caught_up(agent: LocalAgent) -> None:
    """Let the agent's loop run once: bytes already in its socket have been read."""
    for _ in range(2):
        agent.call(lambda: None)


def entries(agent: LocalAgent) -> list[dict[str, Any]]:
    r = requests.get(agent.api_url + "/api/requests/http", timeout=10)
    return list(r.json()["requests"])


@pytest.fixture
def upstream() -> Iterator[RecordingUpstream]:
    up = RecordingUpstream(lambda i, seen: ANSWER)
    yield up
    up.close()


HALF = b"GET /next HTTP/1.1\r\nHost: x\r\nX-Half: "


def assert_answered_then_408(answer: bytes, answered: int) -> None:
    assert answer.count(b"HTTP/1.1 200 OK\r\n") == answered
    assert answer.endswith(b"The request head did not arrive in time.\n")
    assert b"HTTP/1.1 408 Request Timeout\r\n" in answer


def test_a_half_head_behind_a_get_in_the_same_write_gets_408(
    upstream: RecordingUpstream,
) -> None:
    with LocalAgent(upstream.url, header_timeout=TIMEOUT) as agent, connect(agent.public_url) as s:
        s.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n" + HALF)
        assert_answered_then_408(read_until_closed(s), 1)
        assert [seen.request_line for seen in upstream.seen] == [b"GET /a HTTP/1.1"]
        assert [e["request"]["uri"] for e in entries(agent)] == ["/a"]


def test_a_half_head_behind_a_post_body_in_the_same_write_gets_408(
    upstream: RecordingUpstream,
) -> None:
    # the body ends with a blank line of its own: only its length tells where it ends
    body = b"x=1\r\n\r\n"
    post = b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    with LocalAgent(upstream.url, header_timeout=TIMEOUT) as agent, connect(agent.public_url) as s:
        s.sendall(post + HALF)
        assert_answered_then_408(read_until_closed(s), 1)
        assert [seen.body for seen in upstream.seen] == [body]


def test_a_half_head_sent_while_the_request_before_is_handled_gets_408() -> None:
    arrived, release = threading.Event(), threading.Event()

    def answer(i: int, seen: Seen) -> bytes:
        arrived.set()
        release.wait(BOUND)  # the upstream holds the first request until told
        return ANSWER

    up = RecordingUpstream(answer)
    try:
        with LocalAgent(up.url, header_timeout=TIMEOUT) as agent, connect(agent.public_url) as s:
            s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            assert arrived.wait(BOUND)  # its handler is running now
            s.sendall(HALF)
            caught_up(agent)  # ...and the half head has reached the agent meanwhile
            release.set()
            assert_answered_then_408(read_until_closed(s), 1)
    finally:
        release.set()
        up.close()
    assert [seen.request_line for seen in up.seen] == [b"GET /slow HTTP/1.1"]


def test_a_half_head_behind_a_streamed_body_while_it_is_handled_gets_408(
    upstream: RecordingUpstream,
) -> None:
    big = 200_000  # streamed to the upstream as it comes (not read whole first)
    with LocalAgent(upstream.url, header_timeout=TIMEOUT) as agent, connect(agent.public_url) as s:
        s.sendall(b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % big)
        s.sendall(b"u" * (big - 10))
        s.sendall(b"u" * 10 + HALF)  # the body's end and a half head together
        assert_answered_then_408(read_until_closed(s), 1)
    assert [len(seen.body) for seen in upstream.seen] == [big]


def test_a_half_head_behind_a_chunked_body_gets_408(upstream: RecordingUpstream) -> None:
    chunked = (
        b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    )
    with LocalAgent(upstream.url, header_timeout=TIMEOUT) as agent, connect(agent.public_url) as s:
        s.sendall(chunked + HALF)
        assert_answered_then_408(read_until_closed(s), 1)


@pytest.mark.parametrize(
    "pipelined",
    [
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
        # a body that looks like the start of a head, then a request after it
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nGET /x HT"
        b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
        # an old browser's CRLF after a POST body (RFC 9112 2.2: ignored)
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\r\n",
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ],
    ids=["two-gets", "post-then-get", "post-crlf", "chunked"],
)
def test_whole_pipelined_requests_leave_the_connection_idle_past_the_timeout(
    upstream: RecordingUpstream, pipelined: bytes
) -> None:
    n = pipelined.count(b"HTTP/1.1\r\n")
    with LocalAgent(upstream.url, header_timeout=TIMEOUT) as agent:
        with connect(agent.public_url) as kept:
            kept.sendall(pipelined)
            read_answers(kept, n)
            # a connection opened now is cut by the header timeout; `kept` is not
            with connect(agent.public_url) as later:
                assert read_until_closed(later) == b""
            kept.sendall(b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_answers(kept, 1).startswith(b"HTTP/1.1 200 OK\r\n")
        assert len(entries(agent)) == n + 1


# -- the API listener ------------------------------------------------------------------


def test_a_trickled_head_to_the_api_is_cut_at_the_header_timeout(
    upstream: RecordingUpstream,
) -> None:
    stop = threading.Event()
    head = b"GET /api/tunnels HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 5000 + b"\r\n\r\n"
    with LocalAgent(upstream.url, header_timeout=TIMEOUT) as agent, connect(agent.api_url) as s:

        def trickle() -> None:
            for i in range(len(head)):
                if stop.wait(0.01):
                    return
                try:
                    s.sendall(head[i : i + 1])
                except OSError:
                    return

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        try:
            answer = read_until_closed(s)
        finally:
            stop.set()
            sender.join(BOUND)
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        # the API still answers others
        assert requests.get(agent.api_url + "/api/tunnels", timeout=10).status_code == 200


def test_an_api_connection_that_sends_nothing_or_half_a_head_is_closed(
    upstream: RecordingUpstream,
) -> None:
    with LocalAgent(upstream.url, header_timeout=TIMEOUT) as agent:
        with connect(agent.api_url) as silent:
            assert read_until_closed(silent) == b""
        with connect(agent.api_url) as half:
            half.sendall(b"GET /api/requests/http HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            assert read_until_closed(half).startswith(b"HTTP/1.1 408 ")


def test_a_kept_alive_api_connection_still_idles_and_serves(upstream: RecordingUpstream) -> None:
    request = b"GET /api/tunnels HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with LocalAgent(upstream.url, header_timeout=TIMEOUT) as agent, connect(agent.api_url) as kept:
        kept.sendall(request)
        assert kept.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")
        with connect(agent.api_url) as later:  # cut by the header timeout; `kept` is not
            assert read_until_closed(later) == b""
        kept.sendall(request)
        assert kept.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")


def test_an_api_body_that_stops_coming_is_a_408_in_the_agents_error_shape(
    upstream: RecordingUpstream,
) -> None:
    with LocalAgent(upstream.url, body_timeout=TIMEOUT) as agent, connect(agent.api_url) as s:
        s.sendall(
            b"POST /api/requests/http HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"id": '
        )
        answer = read_until_closed(s)  # held for ever before: nothing bounded a body
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert json.loads(body) == {
        "status_code": 408,
        "msg": "request body did not arrive in time",
        "details": {"err": f"no request body byte for {TIMEOUT:g} s"},
    }


def test_an_api_body_over_a_mebibyte_is_a_413_in_the_agents_error_shape(
    upstream: RecordingUpstream,
) -> None:
    with LocalAgent(upstream.url) as agent:
        r = requests.post(
            agent.api_url + "/api/tunnels",
            data=b" " * (1024**2 + 1),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
    assert r.status_code == 413
    assert r.json()["msg"] == "request body too large"


# -- the tracker on its own: every way of cutting a stream into reads ----------------


def _cuts(stream: bytes, sizes: list[int]) -> list[bytes]:
    """``stream`` cut into reads of ``sizes`` (the rest in one last read)."""
    out, i = [], 0
    for size in sizes:
        if i >= len(stream):
            break
        out.append(stream[i : i + size])
        i += size
    if i < len(stream):
        out.append(stream[i:])
    return out


def test_the_tracker_knows_whether_a_next_head_is_in_however_the_stream_is_cut() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    bodies = st.one_of(
        st.none(),  # a GET
        st.binary(max_size=30),
        st.sampled_from([b"x\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n", b"\r\n"]),
    )
    halves = st.sampled_from(
        [b"", b"\r\n", b"G", b"GET / HTTP/1.1\r\n", b"\r\nGET / HTTP/1.1\r\nA: b\r\n\r"]
    )

    @settings(max_examples=400, deadline=None)
    @given(
        requests=st.lists(bodies, min_size=1, max_size=4),
        half=halves,
        sizes=st.lists(st.integers(min_value=1, max_value=30), max_size=60),
    )
    def check(requests: list[bytes | None], half: bytes, sizes: list[int]) -> None:
        stream = b""
        heads: list[tuple[int, int, int | None]] = []  # head end, message end, length
        for i, body in enumerate(requests):
            stream += b"\r\n" if i % 2 else b""  # CR/LF before a request line: ignored
            if body is None:
                stream += b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i
                heads.append((len(stream), len(stream), None))
            else:
                stream += b"POST /%d HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (i, len(body))
                heads.append((len(stream), len(stream) + len(body), len(body)))
                stream += body
        stream += half
        reads = iter(_cuts(stream, sizes))
        tracker = HeadTracker()
        fed = 0

        def feed_to(offset: int) -> None:
            nonlocal fed
            while fed < offset:
                data = next(reads)
                tracker.feed(data, lambda: True)
                fed += len(data)

        for n, (head_end, end, length) in enumerate(heads):
            feed_to(head_end)  # the parser has the head: its handler starts
            tracker.parsed(length, False, False)
            # the handler reads the body; the last one's answer comes after all is in
            feed_to(len(stream) if n == len(heads) - 1 else end)
            assert tracker.exact
            assert tracker.waiting() == (stream[end:fed].strip(b"\r\n") != b"")

    check()


def test_after_a_chunked_body_the_tracker_still_sees_bytes_after_a_blank_line() -> None:
    chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    for tail, waiting in [(b"", False), (b"\r\n", False), (b"GET", True)]:
        tracker = HeadTracker()
        tracker.feed(chunked + tail, lambda: False)
        tracker.parsed(None, True, False)
        assert not tracker.exact
        assert tracker.waiting() is waiting
    # bytes that come once the handled body is complete are a next request's
    tracker = HeadTracker()
    tracker.feed(chunked, lambda: False)
    tracker.parsed(None, True, False)
    tracker.feed(b"\r\n", lambda: True)
    assert not tracker.waiting()
    tracker.feed(b"P", lambda: True)
    assert tracker.waiting()
