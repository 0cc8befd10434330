"""1xx answers are interim: never relayed as the final one, never shift the pool."""

from __future__ import annotations

import requests

from ngrok_inspect.local_agent import LocalAgent
from tests.support.raw_upstream import RecordingUpstream, Seen, ok


def test_103_early_hints_is_not_the_final_answer_on_a_pooled_connection() -> None:
    def answer(i: int, seen: Seen) -> bytes:
        hints = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        return hints + ok(b"for " + seen.request_line.split(b" ")[1])

    up = RecordingUpstream(answer)
    try:
        with LocalAgent(up.url) as agent, requests.Session() as s:
            url = agent.tunnels[0].public_url
            first = s.get(url + "/one", timeout=10)
            second = s.get(url + "/two", timeout=10)
            assert (first.status_code, first.content) == (200, b"for /one")
            assert (second.status_code, second.content) == (200, b"for /two")
            assert up.connections == 1  # the pooled connection was reused, cleanly
            got = requests.get(agent.api_url + "/api/requests/http", timeout=10).json()
            assert [e["response"]["status_code"] for e in got["requests"]] == [200, 200]
    finally:
        up.close()
