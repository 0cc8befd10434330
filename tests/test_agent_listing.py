"""The API never stalls the proxy: a listing is serialized once per entry and streamed.

Issue 8, attack 7: ``GET /api/requests/http?limit=1000000`` over a full store used to
build the whole document in one go on the event loop (stalling every proxied request)
and hold it twice in memory. Now each finished entry's JSON is built once and kept, and a
long listing goes out in pieces, with the loop free between them.
"""

from __future__ import annotations

import json
import socket
import tracemalloc
from typing import Any

import requests

from ngrok_inspect.local_agent import LocalAgent
from ngrok_inspect.local_agent.store import PIECE_ENTRIES, Entry, Message, Store
from tests.support.live import Upstream


def _entry(i: int, tunnel: str = "web", body: bytes = b'{"n": 1}') -> Entry:
    head = b"POST /hook/%06d HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n\r\n" % i
    req = Message(head)
    req.add_body(body, limit=1 << 20)
    req.complete = True
    entry = Entry(
        f"airt_{i:06d}", tunnel, "127.0.0.1", 1_700_000_000.0 + i, "POST", "/", "HTTP/1.1", req
    )
    resp = Message(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
    resp.add_body(b"ok", limit=1 << 20)
    resp.complete = True
    entry.response = resp
    entry.status_code, entry.status_text = 200, "200 OK"
    return entry


def _filled(n: int, **kw: Any) -> Store:
    store = Store(max_bytes=1 << 30)
    for i in range(n):
        e = _entry(i, **kw)
        store.add(e)
        store.finish(e)
    return store


def _document(entries: list[Entry]) -> bytes:
    """What the listing was before: the whole answer dumped at once."""
    data = {"uri": "/api/requests/http", "requests": [e.to_api() for e in entries]}
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def test_listing_pieces_join_to_the_same_document() -> None:
    store = _filled(2 * PIECE_ENTRIES + 10)
    for limit in (0, 1, PIECE_ENTRIES - 1, PIECE_ENTRIES, PIECE_ENTRIES + 1, 1_000_000):
        pieces = list(store.listing(limit))
        assert b"".join(pieces) == _document(store.newest_first(limit)), limit
    assert len(list(store.listing(1_000_000))) == 3
    assert len(list(store.listing(PIECE_ENTRIES - 1))) == 1  # short: one piece
    mixed = Store(max_bytes=1 << 30)
    for i in range(300):
        e = _entry(i, tunnel="api" if i % 3 else "web")
        mixed.add(e)
        mixed.finish(e)
    joined = b"".join(mixed.listing(1_000_000, "we"))
    assert joined == _document(mixed.newest_first(1_000_000, "we"))
    assert len(json.loads(joined)["requests"]) == 100
    short = b"".join(mixed.listing(30, "we"))  # a short listing picks its entries at once
    assert short == _document(mixed.newest_first(30, "we"))


def test_pieces_are_bounded_in_bytes_too() -> None:
    store = _filled(40, body=b"x" * 40_000)  # ~54 KB of JSON each
    pieces = list(store.listing(1_000_000))
    assert len(pieces) > 5
    assert max(len(p) for p in pieces) < 2 * 256 * 1024
    assert b"".join(pieces) == _document(store.newest_first(1_000_000))


def test_a_finished_entry_is_serialized_once_a_pending_one_every_time() -> None:
    store = Store(max_bytes=1 << 30)
    req = Message(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    req.complete = True
    entry = Entry("airt_1", "web", "127.0.0.1", 0.0, "GET", "/a", "HTTP/1.1", req)
    store.add(entry)
    pending = entry.to_json()
    assert json.loads(pending)["response"] is None
    assert entry.to_json() is not pending  # built again: a pending entry still changes
    entry.response = Message(b"HTTP/1.1 204 No Content\r\n\r\n")
    entry.status_code, entry.status_text = 204, "204 No Content"
    entry.duration_ns = 5
    store.finish(entry)
    done = entry.to_json()
    assert json.loads(done)["response"]["status_code"] == 204
    assert json.loads(done)["duration"] == 5
    assert entry.to_json() is done  # cached
    assert b"".join(store.listing(10)).count(done) == 1


def test_entries_evicted_or_cleared_during_a_listing_are_left_out() -> None:
    one = _entry(0)
    Store(max_bytes=1 << 30).finish(one)
    store = Store(max_bytes=3 * PIECE_ENTRIES * one.size)  # room for exactly that many
    for i in range(3 * PIECE_ENTRIES):
        e = _entry(i)
        store.add(e)
        store.finish(e)
    assert len(store) == 3 * PIECE_ENTRIES
    pieces = store.listing(1_000_000)
    first = next(pieces)
    for i in range(PIECE_ENTRIES):  # new ones evict the oldest (the listing ends with them)
        e = _entry(10_000 + i)
        store.add(e)
        store.finish(e)
    doc = json.loads(first + b"".join(pieces))
    assert len(doc["requests"]) == 2 * PIECE_ENTRIES
    assert doc["requests"][-1]["id"] == f"airt_{PIECE_ENTRIES:06d}"
    pieces = store.listing(1_000_000)
    first = next(pieces)
    store.clear()
    doc = json.loads(first + b"".join(pieces))
    assert len(doc["requests"]) == PIECE_ENTRIES
    assert json.loads(b"".join(store.listing(5))) == {"uri": "/api/requests/http", "requests": []}


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    got = b""
    while b"\r\n\r\n" not in got:
        data = sock.recv(65536)
        assert data, "the API closed the connection before answering"
        got += data
    head, _, rest = got.partition(b"\r\n\r\n")
    return head, rest


def _dechunk(data: bytes) -> bytes:
    out, pos = [], 0
    while True:
        end = data.index(b"\r\n", pos)
        size = int(data[pos:end], 16)
        if size == 0:
            return b"".join(out)
        out.append(data[end + 2 : end + 2 + size])
        pos = end + 2 + size + 2


def test_proxied_requests_complete_while_a_big_listing_is_in_progress(
    upstream: Upstream,
) -> None:
    body = b"x" * 48_000
    entries = 150  # ~20 MB of listing: more than the sockets between us and the agent hold
    with LocalAgent(upstream.url, inspect_db_size=500 * 1000**2) as agent:
        public = agent.tunnels[0].public_url
        with requests.Session() as session:
            for i in range(entries):
                assert session.post(f"{public}/webhook/{i}", data=body, timeout=10).ok
        # a first listing builds and keeps every entry's JSON (that memory is the store's)
        first = requests.get(f"{agent.api_url}/api/requests/http?limit=1000000", timeout=30)
        listing = first.content
        assert first.headers.get("Transfer-Encoding") == "chunked"
        assert len(first.json()["requests"]) == entries
        port = int(agent.api_url.rsplit(":", 1)[1])

        tracemalloc.start()
        try:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            sock.settimeout(30)
            sock.connect(("127.0.0.1", port))
            sock.sendall(
                b"GET /api/requests/http?limit=1000000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            )
            head, got = _read_head(sock)
            assert head.startswith(b"HTTP/1.1 200") and b"chunked" in head.lower()
            # The listing is started and we stop reading it: proxied requests still complete,
            # and the agent holds only a few pieces of it, not a second copy of the document.
            for i in range(5):
                answer = requests.post(f"{public}/webhook/during-{i}", data=b"{}", timeout=10)
                assert answer.status_code == 200  # the upstream's echo
            held, _ = tracemalloc.get_traced_memory()
            assert held < len(listing) // 4, (held, len(listing))
        finally:
            tracemalloc.stop()
        rest = bytearray(got)
        while not rest.endswith(b"\r\n0\r\n\r\n"):
            data = sock.recv(1 << 20)
            assert data, "the listing ended early"
            rest += data
        sock.close()
        # the listing was decided when it started: the same document, without the new ones
        assert _dechunk(bytes(rest)) == listing
        newest = requests.get(f"{agent.api_url}/api/requests/http?limit=5", timeout=10)
        assert "Content-Length" in newest.headers  # short listings: one answer
        assert [r["request"]["uri"] for r in newest.json()["requests"]] == [
            f"/webhook/during-{i}" for i in reversed(range(5))
        ]
