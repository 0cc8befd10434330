"""Retry only what is safe: a POST the upstream read is never sent twice."""

from __future__ import annotations

import requests

from ngrok_inspect.local_agent import LocalAgent
from tests.support.raw_upstream import RecordingUpstream, Seen, ok


def answer_once(i: int, seen: Seen) -> bytes | None:
    # each connection answers its first request, then reads the next and closes
    return ok(b"first") if i == 0 else None


def test_a_post_on_a_reused_connection_that_dies_is_delivered_once() -> None:
    up = RecordingUpstream(answer_once)
    try:
        with LocalAgent(up.url) as agent:
            url = agent.tunnels[0].public_url
            assert requests.get(url + "/warm", timeout=10).content == b"first"
            r = requests.post(url + "/webhook", data=b'{"event":"paid"}', timeout=10)
            assert r.status_code == 502
            posts = [s for s in up.seen if s.request_line.startswith(b"POST")]
            assert len(posts) == 1  # the handler ran once, not twice
            got = requests.get(agent.api_url + "/api/requests/http", timeout=10).json()
            assert got["requests"][0]["response"]["status_code"] == 502
    finally:
        up.close()


def test_a_get_on_a_reused_connection_that_dies_is_retried() -> None:
    up = RecordingUpstream(answer_once)
    try:
        with LocalAgent(up.url) as agent:
            url = agent.tunnels[0].public_url
            assert requests.get(url + "/warm", timeout=10).content == b"first"
            assert requests.get(url + "/again", timeout=10).content == b"first"
            assert up.connections == 2
    finally:
        up.close()
