"""An exchange that ended without a response reads as failed, with its cause, not pending.

The record stays the agent's: ``response`` and ``status_code`` null, ``error`` saying
why (the client left before the answer, or while sending its body). ``requests list``,
``show``, ``stats`` and the agent's console line say ``failed`` and the cause; an entry
still in flight reads ``pending`` as before, and so does a real ngrok agent's entry
without a response (it has no ``error`` field). Real agent, real upstream, raw sockets;
each test waits on the agent's capture listener (or its console line), never a sleep.
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
from ngrok_inspect.models import CapturedRequest
from ngrok_inspect.stats import compute_stats
from tests.cli_invoke import invoke
from tests.support.raw_upstream import RecordingUpstream, Seen, ok

BOUND = 30.0
LEFT = "the client closed the connection before the answer came"


class Held:
    """An upstream that holds each request until ``release`` is set."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.up = RecordingUpstream(self._answer)
        self.url = self.up.url

    def _answer(self, i: int, seen: Seen) -> bytes:
        self.arrived.set()
        self.release.wait(BOUND)
        return ok(b"late")

    def close(self) -> None:
        self.release.set()
        self.up.close()


@pytest.fixture
def held() -> Iterator[Held]:
    h = Held()
    yield h
    h.close()


class Captured:
    """Capture listener: ``wait()`` returns once an entry has completed."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.entries: list[CapturedRequest] = []

    def __call__(self, entry: CapturedRequest) -> None:
        self.entries.append(entry)
        self.event.set()

    def wait(self) -> CapturedRequest:
        assert self.event.wait(BOUND), "no capture completed"
        return self.entries[-1]


def connect(url: str) -> socket.socket:
    host, port = url.split("//")[1].rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=BOUND)


def cli(agent: LocalAgent, *args: str) -> str:
    r = invoke(["--api-url", agent.api_url, *args])
    assert r.exit_code == 0, r.stderr
    return r.stdout


def leave_before_the_answer(agent: LocalAgent, held: Held, captured: Captured) -> str:
    """A client sends a GET and closes while the upstream holds it; the entry's id."""
    with connect(agent.public_url) as s:
        s.sendall(b"GET /left HTTP/1.1\r\nHost: x\r\n\r\n")
        assert held.arrived.wait(BOUND)
    entry = captured.wait()
    held.release.set()
    return entry.id


def test_a_client_that_left_before_the_answer_reads_failed_with_its_cause(held: Held) -> None:
    captured = Captured()
    with LocalAgent(held.url, on_capture=captured) as agent:
        entry_id = leave_before_the_answer(agent, held, captured)

        # the record is the agent's, untouched: no response, and why
        [record] = json.loads(cli(agent, "requests", "list", "--json"))
        assert record["id"] == entry_id
        assert record["response"] is None and record["status_code"] is None
        assert record["error"] == LEFT
        assert record["duration_ms"] > 0

        [line] = cli(agent, "requests", "list").splitlines()
        fields = line.split("\t")
        assert fields[5] == "failed"
        assert fields[6] != "-"  # it has a duration: until it failed
        assert cli(agent, "requests", "list", "--errors").count(entry_id) == 1

        shown = cli(agent, "requests", "show", entry_id)
        assert "Status:   failed (no response)\n" in shown
        assert f"Error:    {LEFT}\n" in shown
        assert "Duration: -" not in shown
        assert "== Response: none (the exchange failed: see Error)" in shown
        assert "pending" not in shown
        # its response body cannot come: not "wait for it"
        r = invoke(["--api-url", agent.api_url, "requests", "show", entry_id, "--body", "response"])
        assert (r.exit_code, r.stdout) == (4, "")
        assert f"has no response: the exchange failed ({LEFT})" in r.stderr
        assert "Wait" not in r.stderr

        stats = json.loads(cli(agent, "stats", "--json"))
        assert (stats["pending"], stats["failed"]) == (0, 1)
        assert stats["by_status_class"] == {"failed": 1}
        assert stats["errors"]["count"] == 1
        assert stats["errors"]["recent"][0]["error"] == LEFT
        assert stats["duration"]["count"] == 1
        plain = cli(agent, "stats").splitlines()
        assert "failed\t1" in plain and "pending\t0" in plain
        [error_row] = [row for row in plain if row.startswith("error\t")]
        assert error_row.endswith(f"\t{entry_id}\t{LEFT}")


def test_a_client_that_left_while_sending_its_body_reads_failed(held: Held) -> None:
    captured = Captured()
    with LocalAgent(held.url, on_capture=captured) as agent:
        with connect(agent.public_url) as s:
            s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nten bytes!")
            # the client leaves before the rest of its body (none of it reached the upstream)
        entry = captured.wait()
        assert entry.failed and not entry.pending
        assert held.up.seen == []
        [line] = cli(agent, "requests", "list").splitlines()
        assert line.split("\t")[5] == "failed"
        shown = cli(agent, "requests", "show", entry.id)
        assert "Error:    the client closed the connection after 10 of 1000 request body" in shown


def test_an_entry_still_in_flight_reads_pending(held: Held) -> None:
    captured = Captured()
    with LocalAgent(held.url, on_capture=captured) as agent, connect(agent.public_url) as s:
        s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        assert held.arrived.wait(BOUND)  # the upstream holds it: in flight
        [raw] = requests.get(agent.api_url + "/api/requests/http", timeout=10).json()["requests"]
        assert raw["response"] is None and "error" not in raw
        [line] = cli(agent, "requests", "list").splitlines()
        assert line.split("\t")[5:7] == ["pending", "-"]
        assert "Status:   pending (no response yet)" in cli(agent, "requests", "show", "last")
        held.release.set()
        assert s.recv(65536).endswith(b"late")
        assert captured.wait().status_code == 200


def _record(**extra: Any) -> dict[str, Any]:
    return {
        "id": "airt_1",
        "uri": "/api/requests/http/airt_1",
        "tunnel_name": "web",
        "remote_addr": "127.0.0.1",
        "start": "2026-11-28T16:33:06Z",
        "duration": 5_000_000,
        "request": {"method": "GET", "proto": "HTTP/1.1", "headers": {}, "uri": "/", "raw": ""},
        "response": None,
        **extra,
    }


def test_pending_and_failed_are_told_apart_by_the_records_error() -> None:
    ngrok = CapturedRequest.from_api(_record())  # a real agent's: never an 'error' key
    failed = CapturedRequest.from_api(_record(error=LEFT))
    assert (ngrok.pending, ngrok.failed) == (True, False)
    assert (failed.pending, failed.failed) == (False, True)
    assert failed.is_error and failed.to_dict()["error"] == LEFT
    assert failed.to_dict()["response"] is None
    stats = compute_stats([ngrok, failed])
    assert (stats.pending, stats.failed) == (1, 1)
    assert stats.by_status_class == {"failed": 1, "pending": 1}
    assert stats.durations.count == 1  # the failed one, not the one in flight


def test_the_agent_console_line_says_failed_and_why(held: Held) -> None:
    import subprocess
    import sys
    from pathlib import Path

    exe = str(Path(sys.executable).with_name("ngrok-inspect"))
    proc = subprocess.Popen(
        [exe, "agent", held.url, "--web-addr", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None and proc.stdout is not None
        tunnel = ""
        for err_line in proc.stderr:
            if err_line.startswith("Tunnel "):
                tunnel = err_line.split()[2]
            if err_line.startswith("Press Ctrl-C"):
                break
        with connect(tunnel) as s:
            s.sendall(b"GET /left HTTP/1.1\r\nHost: x\r\n\r\n")
            assert held.arrived.wait(BOUND)
        line = proc.stdout.readline()  # the agent's line for the finished exchange
        held.release.set()
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    assert " GET     /left  failed  " in line
    assert line.rstrip("\n").endswith(f"({LEFT})")


def test_follow_and_monitor_see_a_failed_entry_at_once(held: Held) -> None:
    from ngrok_inspect.client import AgentClient
    from ngrok_inspect.watch.poller import Poller

    captured = Captured()
    with LocalAgent(held.url, on_capture=captured) as agent, AgentClient(agent.api_url) as client:
        poller = Poller(client)
        assert poller.poll() == []  # the baseline: nothing yet
        entry_id = leave_before_the_answer(agent, held, captured)
        # it used to wait as "pending" for an answer that can never come
        [event] = poller.poll()
        assert event.kind == "request" and event.request is not None
        assert event.request.id == entry_id and event.request.failed


def test_record_db_keeps_a_failed_entry_and_it_reads_failed_from_the_archive(
    held: Held, tmp_path: Any
) -> None:
    db = tmp_path / "captures.db"
    captured = Captured()
    with LocalAgent(held.url, on_capture=captured) as agent:
        entry_id = leave_before_the_answer(agent, held, captured)
        # it used to be skipped as "pending", so an archive never had it
        r = invoke(["--api-url", agent.api_url, "record", "--db", str(db), "--count", "1"])
        assert r.exit_code == 0, r.stderr
    [line] = invoke(["requests", "list", "--db", str(db)]).stdout.splitlines()
    assert line.split("\t")[0] == entry_id and line.split("\t")[5] == "failed"
    shown = invoke(["requests", "show", entry_id, "--db", str(db)]).stdout
    assert f"Error:    {LEFT}\n" in shown
