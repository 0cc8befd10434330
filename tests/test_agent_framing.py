"""Framing is the agent's own: ``Connection`` cannot drop Content-Length or Host."""

from __future__ import annotations

import socket

from ngrok_inspect.local_agent import LocalAgent
from tests.support.raw_upstream import RecordingUpstream, Seen, ok


def exchange(public_url: str, data: bytes) -> bytes:
    host, port = public_url.split("//")[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(data)
        out = b""
        while b"\r\n\r\n" not in out:
            out += s.recv(65536)
        head, _, body = out.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += s.recv(65536)
        return out


def test_content_length_named_in_connection_cannot_smuggle_a_second_request() -> None:
    def answer(i: int, seen: Seen) -> bytes:
        return ok(b"answer to " + seen.request_line)

    up = RecordingUpstream(answer)
    inner = b"GET /stolen HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    try:
        with LocalAgent(up.url) as agent:
            url = agent.tunnels[0].public_url
            attack = (
                b"POST /fast HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Content-Length\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(inner), inner)
            )
            reply = exchange(url, attack)
            assert b"answer to POST /fast" in reply
            # the upstream read one request whose body is the 56 bytes, nothing else
            assert [s.request_line for s in up.seen] == [b"POST /fast HTTP/1.1"]
            assert up.seen[0].body == inner
            assert up.seen[0].header(b"content-length") == [str(len(inner)).encode()]
    finally:
        up.close()


def test_host_named_in_connection_still_reaches_the_upstream() -> None:
    up = RecordingUpstream(lambda i, seen: ok(b"x"))
    try:
        with LocalAgent(up.url) as agent:
            url = agent.tunnels[0].public_url
            exchange(
                url, b"GET /h HTTP/1.1\r\nHost: app.example\r\nConnection: close, Host\r\n\r\n"
            )
            assert up.seen[0].header(b"host") == [b"app.example"]
    finally:
        up.close()


def test_an_http10_request_without_host_gets_the_tunnels() -> None:
    up = RecordingUpstream(lambda i, seen: ok(b"x"))
    try:
        with LocalAgent(up.url) as agent:
            exchange(agent.tunnels[0].public_url, b"GET /old HTTP/1.0\r\n\r\n")
            assert up.seen[0].header(b"host") == [up.url.split("//")[1].encode()]
    finally:
        up.close()


def test_fields_a_connection_header_names_are_hop_by_hop_both_ways() -> None:
    # RFC 9110 section 7.6.1: named in Connection, so not forwarded (either direction);
    # X-Forwarded-For named that way is the client's own and is replaced by the agent's
    answer = (
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\n"
        b"X-Kept: yes\r\nContent-Length: 2\r\n\r\nok"
    )
    up = RecordingUpstream(lambda i, seen: answer)
    try:
        with LocalAgent(up.url) as agent:
            out = exchange(
                agent.public_url,
                b"GET /n HTTP/1.1\r\nHost: a\r\nConnection: close, X-Private, X-Forwarded-For\r\n"
                b"X-Private: 1\r\nX-Forwarded-For: 6.6.6.6\r\nX-Public: 2\r\n\r\n",
            )
        [seen] = up.seen
        assert seen.header(b"x-private") == [] and seen.header(b"x-public") == [b"2"]
        assert seen.header(b"x-forwarded-for") == [b"127.0.0.1"]
        head = out.partition(b"\r\n\r\n")[0].lower()
        assert b"x-hop" not in head and b"x-kept: yes" in head
    finally:
        up.close()
