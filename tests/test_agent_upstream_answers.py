"""How the pooled upstream connection reads answers (issue 8: a message boundary the
record does not show never exists; a connection is reused only after a clean exchange)."""

from __future__ import annotations

import requests

from ngrok_inspect.local_agent import LocalAgent
from tests.support.raw_upstream import Cut, RecordingUpstream, Seen, ok


def _statuses(agent: LocalAgent) -> list[int]:
    got = requests.get(agent.api_url + "/api/requests/http", timeout=10).json()
    return [e["response"]["status_code"] for e in reversed(got["requests"])]


def test_a_second_answer_to_one_request_is_never_served_to_the_next() -> None:
    def answer(i: int, seen: Seen) -> bytes:
        # one write: the real answer and one nobody asked for (response theft bait)
        return ok(b"for " + seen.request_line.split(b" ")[1]) + ok(b"STOLEN")

    up = RecordingUpstream(answer)
    try:
        with LocalAgent(up.url) as agent, requests.Session() as s:
            url = agent.tunnels[0].public_url
            first = s.get(url + "/one", timeout=10)
            second = s.get(url + "/two", timeout=10)
            assert first.content == b"for /one"
            assert second.content == b"for /two"
            assert up.connections == 2  # the out-of-step connection was not reused
            assert _statuses(agent) == [200, 200]
    finally:
        up.close()


def test_an_answer_that_ends_at_the_close_is_whole_and_its_connection_not_reused() -> None:
    def answer(i: int, seen: Seen) -> Cut:
        # RFC 9112 section 6.3: no length, not chunked: the body ends with the connection
        return Cut(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end %d" % i)

    up = RecordingUpstream(answer)
    try:
        with LocalAgent(up.url) as agent, requests.Session() as s:
            url = agent.tunnels[0].public_url
            assert s.get(url + "/one", timeout=10).content == b"until the end 0"
            assert s.get(url + "/two", timeout=10).content == b"until the end 0"
            assert up.connections == 2
            got = requests.get(agent.api_url + "/api/requests/http", timeout=10).json()
            assert all("error" not in e for e in got["requests"])
    finally:
        up.close()


def test_an_endless_answer_head_is_a_502_not_memory() -> None:
    # 4 MiB of one header field and no end of head: the agent stops reading at its head
    # limit (64 KiB) and answers 502, instead of holding what the upstream sends
    endless = b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * (4 << 20)

    up = RecordingUpstream(lambda i, seen: Cut(endless))
    try:
        with LocalAgent(up.url) as agent:
            got = requests.get(agent.tunnels[0].public_url + "/big", timeout=30)
            assert got.status_code == 502
            assert "unreadable answer" in got.text
            assert _statuses(agent) == [502]
    finally:
        up.close()


def test_interim_answers_past_the_head_limit_are_a_502() -> None:
    # a flood of 1xx never becomes a final answer: the interim heads count against the
    # same limit as one head
    hint = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
    flood = hint * (200_000 // len(hint)) + ok(b"late")

    up = RecordingUpstream(lambda i, seen: Cut(flood))
    try:
        with LocalAgent(up.url) as agent:
            got = requests.get(agent.tunnels[0].public_url + "/hints", timeout=30)
            assert got.status_code == 502
            assert _statuses(agent) == [502]
    finally:
        up.close()
