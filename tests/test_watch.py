"""Poller / follow / wait_for / Monitor against a scripted agent on 127.0.0.1.

The scripted agent is a real HTTP server speaking the agent API (list newest first with
``limit`` and ``tunnel_name``, get by id, DELETE) over entries cloned from a recorded real
agent answer. The test decides exactly what the agent holds between two polls, which is
what it takes to check paging, catch-up, pending entries, clear and restart
deterministically. End-to-end runs through the real local agent are in test_watch_live.py.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from ngrok_inspect.client import AgentClient
from ngrok_inspect.errors import ConditionNotMetError, ExitCode, InvalidResponseError
from ngrok_inspect.filters import RequestFilter
from ngrok_inspect.watch import (
    BUSY_READ,
    DEFAULT_MIN_REQUESTS,
    FollowEvent,
    ManualClock,
    Monitor,
    Poller,
    TriggerError,
    UnexpectedStatusError,
    WaitTimeoutError,
    follow,
    follow_batches,
    wait_for,
)

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BASE = datetime(2026, 11, 28, 16, 33, 6, tzinfo=timezone.utc)


def make_id(n: int, salt: int = 0) -> str:
    """'airt_' + 27 base62 chars, sorting like n (then salt)."""
    digits = ""
    v = n * 1000 + salt
    while v:
        v, r = divmod(v, 62)
        digits = _B62[r] + digits
    return "airt_" + digits.rjust(27, "0")


class ScriptedAgent:
    """A stdlib server answering the agent API from a list the test controls."""

    def __init__(self, template: dict[str, Any], port: int = 0) -> None:
        self.template = template
        self.entries: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.list_calls: list[int | None] = []
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: Any) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path == "/api/requests/http":
                    q = parse_qs(url.query)
                    limit = int(q["limit"][0]) if "limit" in q else None
                    agent.list_calls.append(limit)
                    self._send(200, {"uri": url.path, "requests": agent.listing(limit, q)})
                elif url.path.startswith("/api/requests/http/"):
                    rid = url.path.rsplit("/", 1)[1]
                    with agent.lock:
                        entry = agent.entries.get(rid)
                    if entry is None:
                        self._send(
                            404,
                            {
                                "error_code": 106,
                                "status_code": 404,
                                "msg": "request entry not found",
                                "details": {"id": rid},
                            },
                        )
                    else:
                        self._send(200, entry)
                elif url.path == "/api/tunnels":
                    self._send(200, {"tunnels": [], "uri": "/api/tunnels"})
                else:
                    self._send(404, {"status_code": 404, "msg": "Not Found", "details": {}})

            def do_DELETE(self) -> None:
                with agent.lock:
                    agent.entries.clear()
                self._send(204, None)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def listing(self, limit: int | None, q: dict[str, list[str]]) -> list[dict[str, Any]]:
        if limit is None or limit == 0:
            limit = 100
        if limit < 0:
            return []
        with self.lock:
            items = sorted(self.entries.values(), key=lambda e: e["id"], reverse=True)
        if "tunnel_name" in q:
            items = [e for e in items if q["tunnel_name"][0] in e["tunnel_name"]]
        return items[:limit]

    def add(
        self,
        n: int,
        *,
        salt: int = 0,
        second: int | None = None,
        status: int | None = 200,
        path: str = "/hook",
        tunnel: str = "web",
    ) -> str:
        e = copy.deepcopy(self.template)
        e["id"] = make_id(n, salt)
        e["uri"] = "/api/requests/http/" + e["id"]
        e["tunnel_name"] = tunnel
        e["start"] = (BASE + timedelta(seconds=n if second is None else second)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        e["request"]["uri"] = f"{path}?n={n}"
        if status is None:
            e["response"] = None
        else:
            e["response"]["status_code"] = status
            e["response"]["status"] = f"{status} Whatever"
        with self.lock:
            self.entries[e["id"]] = e
        return e["id"]

    def complete(self, rid: str, status: int = 200) -> None:
        with self.lock:
            e = self.entries[rid]
            e["response"] = copy.deepcopy(self.template["response"])
            e["response"]["status_code"] = status

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def template(fixtures_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((fixtures_dir / "request-by-id.json").read_text())
    return data


@pytest.fixture
def scripted(template: dict[str, Any]) -> Iterator[ScriptedAgent]:
    agent = ScriptedAgent(template)
    yield agent
    agent.close()


@pytest.fixture
def client(scripted: ScriptedAgent) -> Iterator[AgentClient]:
    with AgentClient(scripted.url, timeout=5) as c:
        yield c


def ids_of(events: list[FollowEvent]) -> list[str]:
    return [e.request.id for e in events if e.kind == "request" and e.request is not None]


# ------------------------------------------------------------------ Poller


def test_baseline_is_not_emitted_then_new_entries_are(
    scripted: ScriptedAgent, client: AgentClient
) -> None:
    for n in range(1, 6):
        scripted.add(n)
    poller = Poller(client, page=20)
    assert poller.poll() == []
    new = [scripted.add(n) for n in range(6, 9)]
    assert ids_of(poller.poll()) == new  # oldest first
    assert poller.poll() == []  # nothing twice


def test_catch_up_when_more_than_a_page_arrived(
    scripted: ScriptedAgent, client: AgentClient
) -> None:
    for n in range(1, 6):
        scripted.add(n)
    poller = Poller(client, page=10)
    poller.poll()
    new = [scripted.add(n) for n in range(6, 81)]  # 75 new, page is 10
    scripted.list_calls.clear()
    got = ids_of(poller.poll())
    assert got == new
    assert len(scripted.list_calls) > 1  # it widened the limit
    assert scripted.list_calls[0] == 10
    new2 = [scripted.add(n) for n in range(81, 84)]
    assert ids_of(poller.poll()) == new2


def test_a_busy_agent_is_not_asked_page_by_page_again_at_every_poll(
    scripted: ScriptedAgent, client: AgentClient
) -> None:
    # 200 entries a second: after one poll that had to widen, the next starts near what
    # it needs (one request), and still misses nothing
    clock = ManualClock()
    poller = Poller(client, page=10, clock=clock)
    poller.poll()
    second = 1
    for _ in range(3):
        new = [scripted.add(second * 1000 + i, second=second) for i in range(200)]
        second += 1
        clock.advance(1.0)
        scripted.list_calls.clear()
        assert ids_of(poller.poll()) == new
    assert len(scripted.list_calls) == 1
    assert scripted.list_calls[0] is not None and 200 <= scripted.list_calls[0] <= 1000


def test_entries_read_again_are_not_turned_into_models_again(
    scripted: ScriptedAgent, client: AgentClient
) -> None:
    # at full load every poll reads the last second or two again (ids of one second come
    # in any order): only the entries new to the poller are worth a model
    for salt in range(100, 400):
        scripted.add(10, salt=salt)
    poller = Poller(client, page=10, include_existing=True)
    assert len(ids_of(poller.poll())) == 300
    assert poller.models == 300
    late = [scripted.add(10, salt=salt) for salt in (1, 2, 3)]  # same second, sort last
    slow = scripted.add(11, status=None)
    assert ids_of(poller.poll()) == late
    assert poller.read >= 304  # the whole second read again...
    assert poller.models == 300 + 3 + 1  # ...but models only for what was new
    scripted.complete(slow)
    assert ids_of(poller.poll()) == [slow]
    assert poller.models == 300 + 3 + 1 + 1  # a pending entry is looked at again


def test_a_malformed_new_entry_is_still_an_unreadable_answer(
    scripted: ScriptedAgent, client: AgentClient
) -> None:
    scripted.add(1)
    poller = Poller(client)
    poller.poll()
    bad = scripted.add(2)
    with scripted.lock:
        del scripted.entries[bad]["request"]["method"]
    with pytest.raises(InvalidResponseError, match=r"without 'request\.method'"):
        poller.poll()
    with scripted.lock:
        scripted.entries[bad]["request"]["method"] = "GET"
        scripted.entries[bad]["start"] = "yesterday"
    with pytest.raises(InvalidResponseError, match="malformed captured request"):
        poller.poll()


def test_the_next_fetch_asks_for_what_arrived_at_the_rate_seen(
    scripted: ScriptedAgent, client: AgentClient
) -> None:
    # 200 entries a second, then a poll 5 s later (a slower cadence): the first request
    # already reaches the entries seen before (no widening, which reads everything again)
    clock = ManualClock()
    poller = Poller(client, page=10, clock=clock)
    poller.poll()
    second = 1
    for gap in (1, 1, 5):  # the first poll after the baseline widens: no rate known yet
        new = []
        for _ in range(gap):
            new += [scripted.add(second * 1000 + i, second=second) for i in range(200)]
            second += 1
        clock.advance(gap)
        scripted.list_calls.clear()
        assert ids_of(poller.poll()) == new
    assert len(scripted.list_calls) == 1, scripted.list_calls  # 2x the last read was short


def test_same_second_entries_sorting_below_the_page_are_not_missed(
    scripted: ScriptedAgent, client: AgentClient
) -> None:
    # 30 entries in the same second; ids of one second come in any order, so a new entry
    # of that second may sort below all of them, out of the first page.
    for salt in range(100, 130):
        scripted.add(10, salt=salt)
    poller = Poller(client, page=10)
    poller.poll()
    late = scripted.add(10, salt=1)  # same second, sorts last
    assert ids_of(poller.poll()) == [late]


def test_pending_entries_are_emitted_once_complete_even_off_the_page(
    scripted: ScriptedAgent, client: AgentClient
) -> None:
    poller = Poller(client, page=5)
    poller.poll()
    slow = scripted.add(1, status=None)
    assert poller.poll() == []  # pending: not yet
    fast = [scripted.add(n) for n in range(2, 20)]  # pushes it far off the page
    assert ids_of(poller.poll()) == fast
    scripted.complete(slow, 201)
    events = poller.poll()
    assert ids_of(events) == [slow]
    assert events[0].request is not None and events[0].request.status_code == 201
    assert poller.poll() == []


def test_pending_at_start_follow_wants_it_wait_does_not(
    scripted: ScriptedAgent, client: AgentClient
) -> None:
    slow = scripted.add(1, status=None)
    follower = Poller(client, pending_existing=True)
    waiter = Poller(client, pending_existing=False)
    follower.poll()
    waiter.poll()
    scripted.complete(slow)
    assert ids_of(follower.poll()) == [slow]
    assert waiter.poll() == []


def test_clear_is_reported_and_following_goes_on(
    scripted: ScriptedAgent, client: AgentClient
) -> None:
    for n in range(1, 4):
        scripted.add(n)
    poller = Poller(client)
    poller.poll()
    after = scripted.add(4)
    assert ids_of(poller.poll()) == [after]
    scripted.clear()
    events = poller.poll()
    assert [e.kind for e in events] == ["cleared"]
    new = [scripted.add(n) for n in range(5, 8)]
    assert ids_of(poller.poll()) == new
    # cleared and refilled between two polls: reported, and the new ones are all there
    scripted.clear()
    refill = [scripted.add(n, second=2) for n in (20, 21)]  # older-looking times
    events = poller.poll()
    assert events[0].kind == "cleared"
    assert ids_of(events) == refill


def test_agent_restart_is_reported(template: dict[str, Any]) -> None:
    agent = ScriptedAgent(template)
    port = agent.port
    agent.add(1)
    with AgentClient(agent.url, timeout=2) as client:
        poller = Poller(client)
        poller.poll()
        before = agent.add(2)
        assert ids_of(poller.poll()) == [before]
        agent.close()
        events = poller.poll()
        assert [e.kind for e in events] == ["agent_down"]
        assert "127.0.0.1" in events[0].message
        assert poller.poll() == []  # said once
        agent = ScriptedAgent(template, port=port)
        try:
            fresh = agent.add(5, second=0)  # new id, older-looking time
            events = poller.poll()
            assert [e.kind for e in events] == ["restarted", "request"]
            assert ids_of(events) == [fresh]
        finally:
            agent.close()


def test_agent_back_with_history_kept(template: dict[str, Any]) -> None:
    agent = ScriptedAgent(template)
    port = agent.port
    agent.add(1)
    with AgentClient(agent.url, timeout=2) as client:
        poller = Poller(client)
        poller.poll()
        saved = copy.deepcopy(agent.entries)
        agent.close()
        assert [e.kind for e in poller.poll()] == ["agent_down"]
        agent = ScriptedAgent(template, port=port)
        try:
            agent.entries.update(saved)
            new = agent.add(2)
            events = poller.poll()
            assert [e.kind for e in events] == ["agent_up", "request"]
            assert ids_of(events) == [new]
        finally:
            agent.close()


def test_filter_and_tunnel_param(scripted: ScriptedAgent, client: AgentClient) -> None:
    poller = Poller(client, RequestFilter(tunnel="web", methods=("POST",)))
    poller.poll()
    keep = scripted.add(1, tunnel="web")
    scripted.add(2, tunnel="web (http)")  # substring match at the agent, exact here
    events = poller.poll()
    assert ids_of(events) == [keep]


def test_include_existing_reads_everything(scripted: ScriptedAgent, client: AgentClient) -> None:
    existing = [scripted.add(n) for n in range(1, 60)]
    poller = Poller(client, page=10, include_existing=True)
    assert ids_of(poller.poll()) == existing


# ------------------------------------------------------------------ follow


def test_follow_stops_on_timeout_and_on_stop(scripted: ScriptedAgent, client: AgentClient) -> None:
    scripted.add(1)
    events = list(follow(client, poll_interval=0.02, timeout=0.2))
    assert events == []
    stop = threading.Event()
    got: list[FollowEvent] = []

    def run() -> None:
        for ev in follow(client, poll_interval=0.02, stop=stop, on_ready=lambda: scripted.add(2)):
            got.append(ev)
            stop.set()

    t = threading.Thread(target=run)
    t.start()
    t.join(10)
    assert not t.is_alive()
    assert len(ids_of(got)) == 1


# ------------------------------------------------------------------ wait_for


def test_wait_for_counts_only_new_entries(scripted: ScriptedAgent, client: AgentClient) -> None:
    scripted.add(1)
    # the new entries land a little after the starting point is recorded (never before it,
    # however slow the machine), while the wait is polling
    timer = threading.Timer(0.2, lambda: [scripted.add(n) for n in (2, 3)])
    got = wait_for(
        client, RequestFilter(), count=2, timeout=10, poll_interval=0.02, trigger=timer.start
    )
    timer.join()
    assert [r.id for r in got] == [make_id(2), make_id(3)]


def test_wait_for_include_existing(scripted: ScriptedAgent, client: AgentClient) -> None:
    first = scripted.add(1)
    got = wait_for(client, count=1, timeout=1, include_existing=True, poll_interval=0.02)
    assert [r.id for r in got] == [first]


def test_wait_for_trigger_runs_after_the_starting_point(
    scripted: ScriptedAgent, client: AgentClient
) -> None:
    # the trigger adds the entry synchronously: a wait that recorded its starting point
    # after the trigger would never see it
    got = wait_for(
        client,
        RequestFilter(paths=("/hook",)),
        timeout=5,
        trigger=lambda: scripted.add(1),
        poll_interval=0.02,
    )
    assert [r.id for r in got] == [make_id(1)]


def test_wait_for_timeout_says_what_and_how_many(
    scripted: ScriptedAgent, client: AgentClient
) -> None:
    # the entry arrives after the starting point is recorded (as a trigger), never before,
    # however slow the machine is
    with pytest.raises(WaitTimeoutError) as info:
        wait_for(
            client,
            RequestFilter(methods=("POST",), paths=("/hook",)),
            count=3,
            timeout=0.6,
            poll_interval=0.02,
            trigger=lambda: scripted.add(1),
        )
    err = info.value
    assert isinstance(err, ConditionNotMetError)
    assert err.exit_code == ExitCode.CONDITION
    assert "3 requests matching method POST, path /hook" in err.message
    assert "1 matched" in err.message
    assert len(err.matched) == 1
    assert err.hint


def test_wait_for_unexpected_status(scripted: ScriptedAgent, client: AgentClient) -> None:
    with pytest.raises(UnexpectedStatusError) as info:
        wait_for(
            client,
            expect_status="2xx",
            timeout=5,
            trigger=lambda: scripted.add(1, status=502),
            poll_interval=0.02,
        )
    assert info.value.request.status_code == 502
    assert "expected 2xx" in info.value.message
    assert info.value.exit_code == ExitCode.CONDITION


def closed_port(template: dict[str, Any]) -> int:
    """A port an agent just listened on and no longer does: an agent not up yet."""
    probe = ScriptedAgent(template)
    port = probe.port
    probe.close()
    return port


def test_wait_for_agent_that_starts_late(template: dict[str, Any]) -> None:
    port = closed_port(template)
    late: list[ScriptedAgent] = []

    def start_late() -> None:
        agent = ScriptedAgent(template, port=port)
        agent.add(1, path="/late")
        late.append(agent)

    timer = threading.Timer(0.4, start_late)
    timer.start()
    try:
        got = wait_for(f"http://127.0.0.1:{port}", timeout=10, poll_interval=0.05)
        assert [r.path for r in got] == ["/late"]
    finally:
        timer.join()
        for a in late:
            a.close()


def test_wait_for_timeout_on_an_agent_that_never_came(template: dict[str, Any]) -> None:
    port = closed_port(template)
    with pytest.raises(WaitTimeoutError) as info:
        wait_for(f"http://127.0.0.1:{port}", timeout=0.3, poll_interval=0.05)
    assert "not answering" in info.value.message
    assert "Start the agent" in (info.value.hint or "")


def test_wait_for_shell_trigger_failure(scripted: ScriptedAgent, client: AgentClient) -> None:
    with pytest.raises(TriggerError) as info:
        wait_for(client, timeout=5, trigger="exit 3")
    assert "exited with status 3" in info.value.message
    assert info.value.exit_code == ExitCode.FAILURE


def test_wait_for_rejects_bad_count(client: AgentClient) -> None:
    with pytest.raises(ValueError):
        wait_for(client, count=0)


# ------------------------------------------------------------------ Monitor


def test_monitor_counts_by_id_and_alerts_exactly_at_thresholds(
    scripted: ScriptedAgent, client: AgentClient
) -> None:
    for n in range(1, 50):  # history before the monitor started: not counted
        scripted.add(n, status=500)
    mon = Monitor(client, interval=60, max_rate=6, max_error_rate=0.5, page=5)
    mon.collect()
    # interval 1: 6 requests in 60s = 6/min (not above 6), 3 errors of 6 = 0.5 (not above)
    for n, status in zip(range(50, 56), [200, 500, 200, 404, 200, None], strict=True):
        scripted.add(n, status=status)
    mon.collect()
    mon.collect()  # polling twice counts nothing twice
    report = mon.close_interval(60)
    [web] = report.tunnels
    assert (web.requests, web.errors) == (5, 2)  # the pending entry is not complete yet
    assert web.rate_per_min == 5
    assert report.alerts == []
    # interval 2: the pending one completes (counted now, once), one more request
    scripted.complete(make_id(55), 503)
    scripted.add(56, status=200)
    mon.collect()
    report = mon.close_interval(60)
    [web] = report.tunnels
    assert (web.requests, web.errors) == (2, 1)
    assert report.alerts == []  # 0.5 is not above 0.5
    # interval 3: 7 requests, 4 errors → both thresholds crossed
    for n, status in zip(range(57, 64), [500, 500, 500, 500, 200, 200, 200], strict=True):
        scripted.add(n, status=status)
    mon.collect()
    report = mon.close_interval(60)
    assert sorted(a.metric for a in report.alerts) == ["error_rate", "rate"]
    rate = next(a for a in report.alerts if a.metric == "rate")
    assert rate.value == 7 and rate.threshold == 6 and rate.tunnel == "web"
    err = next(a for a in report.alerts if a.metric == "error_rate")
    assert err.value == pytest.approx(4 / 7)
    d = err.to_dict()
    assert d["type"] == "alert" and d["requests"] == 7 and d["errors"] == 4
    assert [e["id"] for e in d["recent_errors"]] == [make_id(n) for n in (60, 59, 58, 57)]
    assert "request" not in json.dumps(d["recent_errors"])  # summaries only, no bodies


def test_monitor_across_clear_and_eviction(scripted: ScriptedAgent, client: AgentClient) -> None:
    for n in range(1, 10):
        scripted.add(n)
    mon = Monitor(client, interval=60, page=5)
    mon.collect()
    for n in range(10, 14):
        scripted.add(n)
    mon.collect()
    scripted.clear()  # a list-length count would go negative here
    mon.collect()
    for n in range(14, 16):
        scripted.add(n)
    mon.collect()
    # eviction: the oldest disappear while new ones arrive
    with scripted.lock:
        for rid in sorted(scripted.entries)[:1]:
            del scripted.entries[rid]
    scripted.add(16)
    mon.collect()
    report = mon.close_interval(30)
    [web] = report.tunnels
    assert web.requests == 4 + 2 + 1
    assert web.rate_per_min == pytest.approx(14.0)
    assert [n.kind for n in report.notices] == ["cleared"]


def test_monitor_per_tunnel(scripted: ScriptedAgent, client: AgentClient) -> None:
    mon = Monitor(client, interval=60, max_error_rate=0.0, min_requests=2)
    mon.collect()
    scripted.add(1, tunnel="web")
    scripted.add(2, tunnel="api", status=500)
    scripted.add(3, tunnel="api", status=200)
    mon.collect()
    report = mon.close_interval(60)
    assert [(t.tunnel, t.requests, t.errors) for t in report.tunnels] == [
        ("api", 2, 1),
        ("web", 1, 0),
    ]
    assert [(a.tunnel, a.metric) for a in report.alerts] == [("api", "error_rate")]
    # a quiet interval still lists the tunnels seen, with zeros
    report = mon.close_interval(60)
    assert [(t.tunnel, t.requests) for t in report.tunnels] == [("api", 0), ("web", 0)]
    assert report.alerts == []
    assert [d["type"] for d in report.to_dicts()] == ["interval", "interval"]


def test_monitor_error_rate_waits_for_min_requests(
    scripted: ScriptedAgent, client: AgentClient
) -> None:
    # 1 failure of 1 request is not a 100 % outage: the default needs 5 requests
    mon = Monitor(client, interval=60, max_error_rate=0.5)
    assert mon.min_requests == DEFAULT_MIN_REQUESTS == 5
    mon.collect()
    scripted.add(1, status=500)
    mon.collect()
    assert mon.close_interval(60).alerts == []
    for n in range(2, 7):
        scripted.add(n, status=200 if n % 2 else 500)
    mon.collect()
    [alert] = mon.close_interval(60).alerts
    assert (alert.metric, alert.figures.requests, alert.figures.errors) == ("error_rate", 5, 3)


def test_monitor_run_yields_per_interval(scripted: ScriptedAgent, client: AgentClient) -> None:
    # an injected clock: no real sleep, each interval lasts exactly its length
    polled: list[int] = []

    def traffic(clock: ManualClock) -> None:
        polled.append(len(clock.sleeps))
        if len(clock.sleeps) == 2:
            scripted.add(1)

    clock = ManualClock(on_sleep=traffic)
    mon = Monitor(client, interval=1.0, clock=clock)
    reports = list(mon.run(poll_interval=0.25, intervals=2))
    assert [r.interval_s for r in reports] == [1.0, 1.0]
    assert [sum(t.requests for t in r.tunnels) for r in reports] == [1, 0]
    assert clock.sleeps == [0.25] * 8
    assert reports[1].time - reports[0].time == timedelta(seconds=1)


def test_follow_on_a_manual_clock(scripted: ScriptedAgent, client: AgentClient) -> None:
    # traffic arrives "during" the 2nd sleep, the stop comes during the 4th: no real time
    stop = threading.Event()

    def step(clock: ManualClock) -> None:
        if len(clock.sleeps) == 2:
            scripted.add(1, path="/a")
            scripted.add(2, path="/b")
        if len(clock.sleeps) == 4:
            stop.set()

    clock = ManualClock(on_sleep=step)
    events = list(follow(client, poll_interval=0.5, stop=stop, clock=clock))
    assert [e.request.path for e in events if e.request is not None] == ["/a", "/b"]
    assert clock.sleeps == [0.5] * 4


def test_follow_batches_gives_one_list_per_poll(
    scripted: ScriptedAgent, client: AgentClient
) -> None:
    stop = threading.Event()

    def step(clock: ManualClock) -> None:
        if len(clock.sleeps) == 1:
            scripted.add(1, path="/a")
            scripted.add(2, path="/b")
        if len(clock.sleeps) == 2:
            scripted.add(3, path="/c")
        if len(clock.sleeps) == 3:
            stop.set()

    clock = ManualClock(on_sleep=step)
    batches = list(follow_batches(client, poll_interval=0.5, stop=stop, clock=clock))
    paths = [[e.request.path for e in b if e.request is not None] for b in batches]
    assert paths == [[], ["/a", "/b"], ["/c"]]  # the stop came during the third sleep


def test_follow_batches_polls_a_busy_agent_less_often(
    scripted: ScriptedAgent, client: AgentClient
) -> None:
    for salt in range(BUSY_READ):
        scripted.add(1, salt=salt)  # one second's worth of a busy agent
    stop = threading.Event()

    def step(clock: ManualClock) -> None:
        if len(clock.sleeps) == 1:
            scripted.add(5)  # a later second: what was busy falls below the floor
        if len(clock.sleeps) == 3:
            stop.set()

    clock = ManualClock(on_sleep=step)
    batches = follow_batches(
        client, include_existing=True, poll_interval=0.5, busy_interval=2.0, stop=stop,
        clock=clock,
    )  # fmt: skip
    sizes = [len(b) for b in batches]
    assert sizes == [BUSY_READ, 1, 0]
    # read >= BUSY_READ entries: 2 s start to start; then a quiet agent: 0.5 s again
    assert clock.sleeps == [2.0, 2.0, 0.5]


def test_follow_timeout_on_a_manual_clock(scripted: ScriptedAgent, client: AgentClient) -> None:
    clock = ManualClock()
    assert list(follow(client, poll_interval=0.5, timeout=1.2, clock=clock)) == []
    assert clock.sleeps == pytest.approx([0.5, 0.5, 0.2])


def test_wait_for_times_out_on_a_manual_clock(scripted: ScriptedAgent, client: AgentClient) -> None:
    clock = ManualClock()
    with pytest.raises(WaitTimeoutError, match="timed out after 3s"):
        wait_for(client, timeout=3, poll_interval=1, clock=clock)
    assert clock.monotonic() == pytest.approx(3.0)


def test_wait_for_trigger_waits_for_a_late_agent(template: dict[str, Any]) -> None:
    port = closed_port(template)
    late: list[ScriptedAgent] = []
    fired: list[int] = []

    def start_late() -> None:
        agent = ScriptedAgent(template, port=port)
        agent.add(1, path="/before-trigger")  # there before the trigger: not counted
        late.append(agent)

    def trigger() -> None:
        fired.append(len(late))
        late[0].add(2, path="/hook")

    timer = threading.Timer(0.3, start_late)
    timer.start()
    try:
        got = wait_for(f"http://127.0.0.1:{port}", timeout=10, trigger=trigger, poll_interval=0.05)
        assert [r.path for r in got] == ["/hook"]
        assert fired == [1]  # the trigger ran once, after the agent was up
    finally:
        timer.join()
        for a in late:
            a.close()


def test_wait_for_trigger_not_run_when_the_agent_never_came(template: dict[str, Any]) -> None:
    port = closed_port(template)
    fired: list[bool] = []
    with pytest.raises(WaitTimeoutError) as info:
        wait_for(
            f"http://127.0.0.1:{port}",
            timeout=0.3,
            trigger=lambda: fired.append(True),
            poll_interval=0.05,
        )
    assert fired == []
    assert "the trigger was not run" in info.value.message
