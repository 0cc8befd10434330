"""``ngrok-inspect agent --db FILE``: every completed capture lands in the archive once."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ngrok_inspect.archive.sink import ArchiveSink
from ngrok_inspect.archive.source import ArchiveSource
from ngrok_inspect.client import ALL, AgentClient
from ngrok_inspect.errors import NgrokInspectError
from ngrok_inspect.local_agent import LocalAgent
from ngrok_inspect.models import CapturedRequest
from tests.cli_invoke import invoke
from tests.support.live import Upstream, send_traffic
from tests.support.servers import load_json
from tests.test_cmd_agent import Running


@pytest.fixture
def run_agent() -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(*args: str) -> Running:
        started.append(Running(list(args), env=dict(os.environ)))
        return started[-1]

    yield start
    for r in started:
        if r.proc.poll() is None:
            r.proc.kill()
            r.proc.communicate(timeout=10)


def _listed(db: Path) -> list[dict[str, Any]]:
    r = invoke(["requests", "list", "--db", str(db), "--json", "--limit", "1000"])
    assert r.exit_code == 0, r.stderr
    records: list[dict[str, Any]] = json.loads(r.stdout)
    return records


def test_captures_survive_an_agent_restart_once_each(
    run_agent: Any, upstream: Upstream, tmp_path: Path
) -> None:
    db = tmp_path / "captures.sqlite"
    seen: list[str] = []
    for round_ in range(2):
        agent = run_agent(upstream.url, "--web-addr", "127.0.0.1:0", "-q", "--db", str(db))
        assert f"Archive {db} (every completed capture is stored)" in agent.banner
        url = agent.tunnel_urls()["command_line"]
        for i in range(3):
            assert requests.get(f"{url}/search?round={round_}&i={i}", timeout=10).ok
        assert (
            requests.post(url + "/webhook", json={"round": round_}, timeout=10).status_code == 201
        )
        with AgentClient(agent.api_url) as client:
            seen += [r.id for r in client.list_requests(limit=ALL)]
        code, _, err = agent.stop()
        assert code == 0, err
        assert "4 new captures stored in" in err
        assert err.strip().endswith("Stopped.")
    records = _listed(db)
    assert len(seen) == 8
    assert sorted(r["id"] for r in records) == sorted(seen)  # all of them, once each
    webhooks = [r for r in records if r["path"] == "/webhook"]
    assert sorted(r["request"]["body"]["json"]["round"] for r in webhooks) == [0, 1]
    assert {r["status_code"] for r in webhooks} == {201}


def test_the_archive_holds_what_the_agent_api_holds(upstream: Upstream, tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    sink = ArchiveSink(db, lambda: agent.api_url).start()
    with LocalAgent(upstream.url, on_capture=sink) as agent:
        send_traffic(agent.public_url)
        held = AgentClient(agent.api_url).list_requests(limit=ALL)
    sink.close()  # after the agent stopped: it delivered every queued capture
    assert sink.stored == len(held) == 12 and sink.failed == 0
    archived = {r.id: r for r in ArchiveSource(db).list_requests(limit=ALL)}
    for r in held:
        got = archived[r.id]
        assert got.request.raw == r.request.raw
        assert got.response is not None and r.response is not None
        assert got.response.raw == r.response.raw
        assert got.to_dict() == r.to_dict()
    with sqlite3.connect(db) as conn:
        sources = {s for (s,) in conn.execute("SELECT DISTINCT source FROM captures")}
    assert sources == {agent.api_url}


def _fixture_requests() -> list[CapturedRequest]:
    reqs = [CapturedRequest.from_api(e) for e in load_json("requests")["requests"]]
    return [r for r in reqs if not r.pending]


def test_what_queued_up_is_written_in_one_transaction(tmp_path: Path) -> None:
    reqs = _fixture_requests()
    assert len(reqs) > 3
    sink = ArchiveSink(tmp_path / "b.sqlite", "http://127.0.0.1:4040")
    for r in reqs:  # queued before the writer runs: they are one batch
        sink(r)
    sink.start()
    for r in reqs:  # again: already stored, skipped by id
        sink(r)
    sink.close()
    assert sink.stored == len(reqs)
    assert sink.batches <= 2


def test_an_unusable_archive_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(NgrokInspectError) as info:
        ArchiveSink(tmp_path, "x").start()  # a directory
    assert info.value.exit_code == 2
    bad = tmp_path / "not.sqlite"
    bad.write_text("not a database, just text " * 100)
    r = invoke(["agent", "--db", str(bad), "--web-addr", "127.0.0.1:0"])
    assert r.exit_code == 2
    assert r.stdout == ""
    assert r.stderr.startswith("Error: ")


def test_a_failing_write_is_counted_and_reported(tmp_path: Path) -> None:
    reqs = _fixture_requests()
    db = tmp_path / "c.sqlite"
    errors: list[tuple[str, int]] = []
    sink = ArchiveSink(db, "src", on_error=lambda e, n: errors.append((e.message, n)))
    for r in reqs[:3]:
        sink(r)
    with sqlite3.connect(db, isolation_level=None) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS captures (id TEXT)")  # not our schema
    with pytest.raises(NgrokInspectError):
        sink.start()  # an archive it cannot use is refused before any traffic
    broken = tmp_path / "d.sqlite"
    sink = ArchiveSink(broken, "src", on_error=lambda e, n: errors.append((e.message, n)))
    sink.start()
    with sqlite3.connect(broken, isolation_level=None) as conn:
        conn.execute("DROP TABLE captures")  # broken under the running writer
    for r in reqs[:3]:
        sink(r)
    sink.close()
    assert sink.failed == 3 and sink.stored == 0
    # reported once (however the writer split the three into batches), with its cause
    assert len(errors) == 1 and 1 <= errors[0][1] <= 3
    assert "captures" in errors[0][0]
