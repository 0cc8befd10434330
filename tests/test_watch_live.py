"""follow / Poller end to end: real traffic through the local agent to a real upstream.

Senders number their requests (``/seq/N``) so that "nothing missed, nothing twice" is a
check on the sequence the follower printed.
"""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from ngrok_inspect.client import AgentClient
from ngrok_inspect.filters import RequestFilter
from ngrok_inspect.local_agent import LocalAgent
from ngrok_inspect.watch import FollowEvent, Poller, follow


def get(url: str, timeout: float = 10.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def seq_of(ev: FollowEvent) -> int:
    assert ev.request is not None
    return int(ev.request.path.rsplit("/", 1)[1])


class Sender:
    """Sends GET /seq/1, /seq/2, … one after the other in a thread until stopped."""

    def __init__(self, public_url: str, pause: float = 0.0, limit: int | None = None) -> None:
        self.public_url = public_url
        self.pause = pause
        self.limit = limit
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self.stop.is_set() and (self.limit is None or n < self.limit):
            n += 1
            get(f"{self.public_url}/seq/{n}")
            self.sent = n
            if self.pause:
                self.stop.wait(self.pause)

    def __enter__(self) -> Sender:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join(20)


@pytest.fixture
def agent(local_agent: Any) -> Any:
    return local_agent


@pytest.fixture
def client(agent: Any) -> Iterator[AgentClient]:
    with AgentClient(agent.api_url, timeout=10) as c:
        yield c


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def public_url(agent: Any) -> str:
    return str(agent.tunnels[0].public_url).rstrip("/")


def test_follow_catches_up_across_pages_without_gaps_or_duplicates(
    agent: Any, client: AgentClient
) -> None:
    get(public_url(agent) + "/before")  # existing: not followed
    ready = threading.Event()
    sender = Sender(public_url(agent), limit=60)

    def start() -> None:
        ready.set()
        sender.thread.start()

    seqs: list[int] = []
    try:
        for ev in follow(
            client,
            RequestFilter(paths=("/seq/*",)),
            poll_interval=0.3,
            page=4,
            timeout=40,
            on_ready=start,
        ):
            if ev.kind == "request":
                seqs.append(seq_of(ev))
                if len(seqs) >= 60:
                    break
    finally:
        sender.stop.set()
        sender.thread.join(20)
    assert ready.is_set()
    assert seqs == list(range(1, 61))


def test_follow_through_a_clear(agent: Any, client: AgentClient) -> None:
    url = public_url(agent)
    events: list[FollowEvent] = []
    poller = Poller(client, RequestFilter(paths=("/seq/*",)), page=3)
    poller.poll()
    for n in (1, 2):
        get(f"{url}/seq/{n}")
    events += poller.poll()
    client.delete_requests()
    events += poller.poll()
    for n in (3, 4, 5, 6):
        get(f"{url}/seq/{n}")
    events += poller.poll()
    # cleared and refilled between two polls
    client.delete_requests()
    for n in (7, 8):
        get(f"{url}/seq/{n}")
    events += poller.poll()
    kinds = [e.kind for e in events]
    assert kinds.count("cleared") == 2
    assert [seq_of(e) for e in events if e.kind == "request"] == list(range(1, 9))


def test_follow_through_an_agent_restart(upstream: Any, unused_port: int) -> None:
    upstream_url = getattr(upstream, "url", upstream)
    web = f"127.0.0.1:{unused_port}"
    first = LocalAgent(str(upstream_url), web_addr=web).start()
    try:
        with AgentClient(first.api_url, timeout=5) as client:
            poller = Poller(client, page=5)
            poller.poll()
            get(public_url(first) + "/seq/1")
            got = poller.poll()
            assert [seq_of(e) for e in got] == [1]
            first.stop()
            down = poller.poll()
            assert [e.kind for e in down] == ["agent_down"]
            second = LocalAgent(str(upstream_url), web_addr=web).start()
            try:
                get(public_url(second) + "/seq/2")
                back = poller.poll()
                assert [e.kind for e in back] == ["restarted", "request"]
                assert seq_of(back[1]) == 2
                get(public_url(second) + "/seq/3")
                assert [seq_of(e) for e in poller.poll()] == [3]
            finally:
                second.stop()
    finally:
        first.stop()


def test_follow_in_a_thread_sees_each_request_once(agent: Any, client: AgentClient) -> None:
    url = public_url(agent)
    seqs: list[int] = []
    stop = threading.Event()
    started = threading.Event()

    def run() -> None:
        for ev in follow(
            client,
            RequestFilter(paths=("/seq/*",)),
            poll_interval=0.05,
            page=2,
            stop=stop,
            on_ready=started.set,
        ):
            if ev.kind == "request":
                seqs.append(seq_of(ev))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert started.wait(10)
    for n in range(1, 16):
        get(f"{url}/seq/{n}")
    # wait (bounded) for the follower to see them all
    for _ in range(200):
        if len(seqs) >= 15:
            break
        stop.wait(0.05)
    stop.set()
    t.join(10)
    assert not t.is_alive()
    assert seqs == list(range(1, 16))


def test_pending_request_is_emitted_once_it_completes(agent: Any, client: AgentClient) -> None:
    url = public_url(agent)
    poller = Poller(client, page=2)
    poller.poll()
    slow = threading.Thread(target=get, args=(f"{url}/slow?ms=1500",), daemon=True)
    slow.start()
    # the slow request is captured (pending) before it completes
    saw_pending = False
    for _ in range(100):
        if any(r.pending for r in client.list_requests(limit=5)):
            saw_pending = True
            break
        threading.Event().wait(0.02)
    assert saw_pending
    assert poller.poll() == []  # pending: not yet
    for n in range(1, 6):  # push it off the page (page=2)
        get(f"{url}/seq/{n}")
    first = poller.poll()
    assert [e.request.path for e in first if e.request] == [f"/seq/{n}" for n in range(1, 6)]
    slow.join(10)
    done = poller.poll()
    assert [(e.request.path, e.request.status_code) for e in done if e.request] == [("/slow", 200)]
    assert poller.poll() == []
