"""The local agent's completion cursor (our listing extension) and the poller on it.

API tests talk raw HTTP (``requests``) to a real :class:`LocalAgent` whose tunnels are
request bins (or a scripted upstream that holds a request until the test lets it go);
poller tests run the real :class:`Poller` against the local agent (it follows the cursor)
and against the recorded real agent and a scripted agent (they send no cursor: the poller
lists newest first, as before). No sleeps: a held request is known to be in flight when
the upstream has read it.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from ngrok_inspect.client import AgentClient
from ngrok_inspect.local_agent import LocalAgent, TunnelSpec
from ngrok_inspect.local_agent.store import PIECE_ENTRIES, Entry, Message, Store
from ngrok_inspect.watch import FollowEvent, ManualClock, Poller, follow_batches
from tests.support.raw_upstream import RecordingUpstream, Seen, ok
from tests.support.servers import FixtureAgentServer, load_json

CURSOR = "Ngrok-Inspect-Cursor"
GONE = "Ngrok-Inspect-Gone"
AFTER = "ngrok_inspect_after"


@pytest.fixture
def bins() -> Iterator[LocalAgent]:
    """A local agent with two request-bin tunnels, ``web`` and ``api``."""
    with LocalAgent(tunnels=[TunnelSpec("web"), TunnelSpec("api")]) as agent:
        yield agent


def hit(agent: LocalAgent, path: str, tunnel: int = 0) -> None:
    assert requests.get(agent.tunnels[tunnel].public_url + path, timeout=10).status_code == 200


def listing(agent: LocalAgent, **params: Any) -> tuple[list[str], str, requests.Response]:
    """The paths listed (in the answer's order), the cursor, the raw answer."""
    r = requests.get(agent.api_url + "/api/requests/http", params=params, timeout=10)
    assert r.status_code == 200, r.text
    paths = [e["request"]["uri"] for e in r.json()["requests"]]
    return paths, r.headers[CURSOR], r


def seq(cursor: str) -> int:
    return int(cursor.rsplit(".", 1)[1])


# -- the API ----------------------------------------------------------------------------------


def test_every_listing_carries_a_cursor_that_counts_completions(bins: LocalAgent) -> None:
    paths, first, r = listing(bins)
    assert paths == []
    assert re.fullmatch(r"[0-9a-f]{16}\.0\.0", first)
    assert set(r.json()) == {"uri", "requests"}  # the body keeps ngrok's shape
    for n in range(3):
        hit(bins, f"/n/{n}")
    paths, cursor, _ = listing(bins, limit=2)
    assert paths == ["/n/2", "/n/1"]  # the plain listing is unchanged: newest first
    assert cursor.rsplit(".", 1)[0] == first.rsplit(".", 1)[0]  # same run, no clear
    assert seq(cursor) == 3


def test_after_lists_only_newer_completions_oldest_first(bins: LocalAgent) -> None:
    hit(bins, "/old")
    _, c1, _ = listing(bins)
    for n in range(4):
        hit(bins, f"/new/{n}")
    paths, c2, r = listing(bins, **{AFTER: c1})
    assert paths == [f"/new/{n}" for n in range(4)]
    assert (seq(c2), r.headers[GONE]) == (seq(c1) + 4, "0")
    assert listing(bins, **{AFTER: c2})[:2] == ([], c2)  # nothing new: the same cursor
    hit(bins, "/later")
    assert listing(bins, **{AFTER: c2})[0] == ["/later"]
    assert listing(bins, **{AFTER: c1})[0] == [*(f"/new/{n}" for n in range(4)), "/later"]


def test_a_long_cursor_listing_is_streamed_with_its_cursor(bins: LocalAgent) -> None:
    _, c0, _ = listing(bins)
    with requests.Session() as s:
        for n in range(PIECE_ENTRIES + 10):
            assert s.get(f"{bins.tunnels[0].public_url}/s/{n}", timeout=10).status_code == 200
    paths, c1, r = listing(bins, **{AFTER: c0})
    assert "Content-Length" not in r.headers  # more than one piece: streamed (chunked)
    assert paths == [f"/s/{n}" for n in range(PIECE_ENTRIES + 10)]
    assert (seq(c1), r.headers[GONE]) == (seq(c0) + PIECE_ENTRIES + 10, "0")
    _, _, plain = listing(bins)  # the plain listing streamed too, with its cursor
    assert "Content-Length" not in plain.headers and plain.headers[CURSOR] == c1


def test_after_with_limit_and_tunnel_name(bins: LocalAgent) -> None:
    _, c0, _ = listing(bins)
    for n in range(5):
        hit(bins, f"/w/{n}", tunnel=0)
        hit(bins, f"/a/{n}", tunnel=1)
    got: list[str] = []
    cursor = c0
    for _ in range(5):  # two at a time, each once
        paths, cursor, _ = listing(bins, limit=2, **{AFTER: cursor})
        assert len(paths) <= 2
        got += paths
    assert got == [p for n in range(5) for p in (f"/w/{n}", f"/a/{n}")]
    assert listing(bins, limit=2, **{AFTER: cursor})[0] == []
    paths, c_api, _ = listing(bins, tunnel_name="api", **{AFTER: c0})
    assert paths == [f"/a/{n}" for n in range(5)]
    assert seq(c_api) == seq(c0) + 10  # the other tunnel's completions are passed too
    assert listing(bins, limit=-1, **{AFTER: c0})[:2] == ([], c0)  # as a negative limit: none
    assert len(listing(bins, limit=0, **{AFTER: c0})[0]) == 10  # 0 means the default, 100


def test_a_pending_entry_is_listed_once_it_completes() -> None:
    reached, release = threading.Event(), threading.Event()

    def answer(i: int, seen: Seen) -> bytes:
        if seen.request_line.startswith(b"GET /hold"):
            reached.set()
            release.wait(30)
        return ok(b"done")

    upstream = RecordingUpstream(answer)
    try:
        with LocalAgent(upstream.url) as agent:
            _, c0, _ = listing(agent)
            held = threading.Thread(target=hit, args=(agent, "/hold"), daemon=True)
            held.start()
            assert reached.wait(10)  # in flight: stored, pending
            hit(agent, "/quick")
            plain, _, r = listing(agent)
            assert plain == ["/quick", "/hold"]
            assert r.json()["requests"][1]["response"] is None
            paths, c1, _ = listing(agent, **{AFTER: c0})
            assert paths == ["/quick"]  # the pending one is not listed yet
            release.set()
            held.join(10)
            paths, c2, r = listing(agent, **{AFTER: c1})
            assert paths == ["/hold"]
            assert r.json()["requests"][0]["response"]["status_code"] == 200
            assert seq(c2) == seq(c1) + 1
    finally:
        release.set()
        upstream.close()


def test_a_clear_is_in_the_cursor_and_what_it_took_is_counted(bins: LocalAgent) -> None:
    _, c0, _ = listing(bins)
    hit(bins, "/before")
    assert requests.delete(bins.api_url + "/api/requests/http", timeout=10).status_code == 204
    hit(bins, "/after")
    paths, c1, r = listing(bins, **{AFTER: c0})
    assert paths == ["/after"]
    run, clears, _ = c1.split(".")
    assert (run, clears) == (c0.split(".")[0], "1")
    assert r.headers[GONE] == "1"  # /before completed after c0 and was cleared


def test_a_cursor_of_another_run_or_malformed_is_refused_in_the_agents_shape(
    bins: LocalAgent,
) -> None:
    hit(bins, "/a")
    _, current, _ = listing(bins)
    url = bins.api_url + "/api/requests/http"
    other = requests.get(url, params={AFTER: "0123456789abcdef.0.0"}, timeout=10)
    assert other.status_code == 400
    assert other.headers["Content-Type"].startswith("application/json")
    body = other.json()
    assert set(body) == {"status_code", "msg", "details"}
    assert (body["status_code"], body["msg"]) == (400, "unknown cursor")
    fresh = body["details"]["cursor"]
    assert fresh.split(".")[:2] == current.split(".")[:2] and seq(fresh) == 0
    assert listing(bins, **{AFTER: fresh})[0] == ["/a"]  # from the fresh one: all it holds
    run = current.split(".")[0]
    for bad in ("", "abc", f"{run}.0", f"{run}.0.-1", f"{run}.0.99", f"{run}.5.0", f"{run}.0.1x"):
        r = requests.get(url, params={AFTER: bad}, timeout=10)
        assert r.status_code == 400, bad
        assert r.json()["msg"] == "failed to deserialize request parameter", bad
        assert AFTER in r.json()["details"]["err"], bad


# -- the store's completion order ------------------------------------------------------------


def _entry(i: int, tunnel: str = "web") -> Entry:
    req = Message(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
    req.complete = True
    return Entry(f"airt_{i:027d}", tunnel, "127.0.0.1", 1.7e9 + i, "GET", "/", "HTTP/1.1", req)


def _ids(
    store: Store, after: int, limit: int = 100, tunnel: str | None = None, examine: int = 20_000
) -> tuple[list[str], int, int]:
    import json

    pieces, last, gone = store.completed_after(after, limit, tunnel, examine)
    return [e["id"][-3:].lstrip("0") for e in json.loads(b"".join(pieces))["requests"]], last, gone


def test_completion_order_evictions_and_an_entry_evicted_in_flight() -> None:
    store = Store(max_bytes=10**9)
    entries = [_entry(i) for i in range(1, 7)]
    for e in entries:
        store.add(e)
    for i in (3, 1, 2):  # completion order differs from arrival
        store.finish(entries[i - 1])
    store.finish(entries[0])  # finished twice: still one completion
    assert _ids(store, 0) == (["3", "1", "2"], 3, 0)
    assert _ids(store, 1) == (["1", "2"], 3, 0)
    # evict 1..4 by arrival (4 still in flight: it never completes here)
    new = _entry(7)
    store.max_bytes = store.total + new.size - sum(e.size for e in entries[:4]) + 1
    store.add(new)
    store.finish(entries[3])
    store.finish(entries[4])
    assert len(store) == 3
    assert _ids(store, 0) == (["5"], 4, 3)  # 3, 1, 2 completed after 0 and are gone
    assert _ids(store, 4) == ([], 4, 0)
    assert store.before_held == 3


def test_an_evicted_entry_behind_a_held_one_is_counted_once() -> None:
    store = Store(max_bytes=10**9)
    a, b, c = _entry(1), _entry(2), _entry(3)
    for e in (a, b, c):
        store.add(e)
    for e in (b, a, c):  # b (arrived second) completes first, then a
        store.finish(e)
    d = _entry(4)
    store.max_bytes = store.total + d.size - a.size + 1  # evict a only, by arrival
    store.add(d)
    assert len(store) == 3
    assert _ids(store, 0, limit=1) == (["2"], 1, 0)  # b; a is behind it in completion order
    assert _ids(store, 1) == (["3"], 3, 1)  # a: gone, counted here
    assert _ids(store, 3) == ([], 3, 0)


def test_a_cursor_listing_looks_at_a_bounded_number_of_entries() -> None:
    store = Store(max_bytes=10**9)
    for i in range(1, 11):
        e = _entry(i, tunnel="api" if i in (2, 9) else "web")
        store.add(e)
        store.finish(e)
    # a few at a time: the cursor says where it stopped, the next call goes on from there
    assert _ids(store, 0, tunnel="api", examine=4) == (["2"], 4, 0)
    assert _ids(store, 4, tunnel="api", examine=4) == ([], 8, 0)
    assert _ids(store, 8, tunnel="api", examine=4) == (["9"], 10, 0)
    assert _ids(store, 0, limit=3, examine=4) == (["1", "2", "3"], 3, 0)  # limit first
    assert _ids(store, 7, examine=4) == (["8", "9", "10"], 10, 0)


# -- the poller -------------------------------------------------------------------------------


def paths_of(events: list[FollowEvent]) -> list[str]:
    return [e.request.path for e in events if e.kind == "request" and e.request is not None]


def test_poller_follows_the_cursor_and_reads_each_entry_once(bins: LocalAgent) -> None:
    hit(bins, "/existing")
    with AgentClient(bins.api_url, timeout=10) as client:
        poller = Poller(client, page=2)
        assert poller.poll() == []  # the baseline: a newest-first listing
        assert poller.uses_cursor
        read, sent = 0, []
        for batch in range(4):
            for n in range(7):
                sent.append(f"/b{batch}/{n}")
                hit(bins, sent[-1], tunnel=n % 2)
            events = poller.poll()
            read += poller.read
            assert paths_of(events) == sent[-7:]  # oldest completion first, across tunnels
        assert poller.poll() == []
        assert poller.read == 0  # an idle poll reads nothing
        assert read == len(sent)  # each entry read once: no page, no re-read second
        assert poller.models == len(sent) + 1  # and the baseline's one


def test_poller_on_the_cursor_through_a_clear_a_restart_and_an_eviction() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        web = f"127.0.0.1:{s.getsockname()[1]}"
    agent = LocalAgent(web_addr=web, tunnels=[TunnelSpec("web")]).start()
    try:
        with AgentClient(agent.api_url, timeout=10) as client:
            poller = Poller(client)
            poller.poll()
            hit(agent, "/one")
            assert paths_of(poller.poll()) == ["/one"]
            client.delete_requests()
            hit(agent, "/two")
            events = poller.poll()
            assert [e.kind for e in events] == ["cleared", "request"]
            assert paths_of(events) == ["/two"]
            agent.stop()  # restarted between two polls: no poll saw it down
            agent = LocalAgent(
                web_addr=web, tunnels=[TunnelSpec("web")], inspect_db_size=30_000
            ).start()
            hit(agent, "/three")
            events = poller.poll()
            assert [e.kind for e in events] == ["restarted", "request"]
            assert paths_of(events) == ["/three"]
            assert poller.uses_cursor
            for n in range(40):  # far more than 30 kB holds: most are evicted unread
                hit(agent, f"/many/{n}")
            events = poller.poll()
            assert events[0].kind == "evicted"
            kept = paths_of(events)
            gone = int(events[0].message.split()[0])
            assert 0 < len(kept) < 40
            assert gone + len(kept) == 40
            assert kept == [f"/many/{n}" for n in range(gone, 40)]
            assert "evicted by the agent before they were read" in events[0].message
    finally:
        agent.stop()


def test_poller_on_the_recorded_real_agent_lists_as_before(
    fixture_agent: FixtureAgentServer,
) -> None:
    with AgentClient(fixture_agent.url, timeout=10) as client:
        poller = Poller(client, include_existing=True)
        events = poller.poll()
        assert poller.poll() == []
        assert not poller.uses_cursor
    assert len(paths_of(events)) == 12  # every completed entry it holds
    listings = [path for method, path, _ in fixture_agent.calls if "/api/requests/http" in path]
    assert len(listings) == 2
    assert not any(AFTER in path for path in listings)  # never asked with our parameter


def test_poller_falls_back_when_another_agent_takes_the_address() -> None:
    from tests.test_watch import ScriptedAgent

    template = load_json("request-by-id")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    agent = LocalAgent(web_addr=f"127.0.0.1:{port}", tunnels=[TunnelSpec("web")]).start()
    scripted = None
    try:
        with AgentClient(agent.api_url, timeout=10) as client:
            poller = Poller(client)
            poller.poll()
            assert poller.uses_cursor
            agent.stop()
            scripted = ScriptedAgent(template, port=port)  # an agent without the cursor
            rid = scripted.add(1)
            events = poller.poll()
            assert [e.kind for e in events] == ["restarted", "request"]
            assert events[1].request is not None and events[1].request.id == rid
            assert not poller.uses_cursor
            new = scripted.add(2)
            assert [e.request.id for e in poller.poll() if e.request] == [new]
    finally:
        agent.stop()
        if scripted is not None:
            scripted.close()


def test_follow_batches_follows_a_cursor_in_short_steps_an_idle_one_slowly(
    bins: LocalAgent,
) -> None:
    hit(bins, "/existing")
    stop = threading.Event()

    def step(clock: ManualClock) -> None:
        if len(clock.sleeps) == 1:
            for n in range(3):
                hit(bins, f"/n/{n}")
        if len(clock.sleeps) == 3:
            stop.set()

    clock = ManualClock(on_sleep=step)
    with AgentClient(bins.api_url, timeout=10) as client:
        batches = follow_batches(
            client, include_existing=True, poll_interval=0.5, busy_interval=2.0,
            cursor_interval=0.1, stop=stop, clock=clock,
        )  # fmt: skip
        got = [paths_of(b) for b in batches]
    assert got == [["/existing"], ["/n/0", "/n/1", "/n/2"], []]
    # a poll that brought something: 0.1 s start to start; an idle one: poll_interval
    # (busy_interval is for agents without the cursor, which re-read the last second)
    assert clock.sleeps == [0.1, 0.1, 0.5]
