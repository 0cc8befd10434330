"""The capture archive: record from an agent, read back with --db, same answers, bad files."""

from __future__ import annotations

import copy
import json
import sqlite3
from pathlib import Path
from typing import Any

from ngrok_inspect.archive import SCHEMA_VERSION, ArchiveSource, ArchiveWriter
from ngrok_inspect.archive.schema import MIGRATIONS
from ngrok_inspect.filters import RequestFilter
from ngrok_inspect.models import CapturedRequest
from tests.cli_invoke import invoke
from tests.support.servers import WEBHOOK_ID, FixtureAgentServer


def _record(fx: FixtureAgentServer, db: Path) -> str:
    n = len(fx.current_list())
    r = invoke(["record", "--db", str(db), "--count", str(n), "--api-url", fx.url])
    assert r.exit_code == 0, r.stderr
    return r.stderr


def test_record_stores_each_capture_once_and_resumes(
    fixture_agent: FixtureAgentServer, tmp_path: Path
) -> None:
    db = tmp_path / "a.sqlite"
    _record(fixture_agent, db)
    completed = [e for e in fixture_agent.current_list() if e.get("response")]
    with ArchiveSource(db) as src:
        assert src.count() == len(completed)
    # a second run adds nothing
    r = invoke(["record", "--db", str(db), "--timeout", "0", "--api-url", fixture_agent.url])
    assert r.exit_code == 0, r.stderr
    assert "0 new captures" in r.stderr
    with ArchiveSource(db) as src:
        assert src.count() == len(completed)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reading_commands_answer_the_same_on_db(
    fixture_agent: FixtureAgentServer, tmp_path: Path
) -> None:
    db = tmp_path / "a.sqlite"
    _record(fixture_agent, db)
    for args in (
        ["requests", "list", "--json"],
        ["requests", "list", "--json", "--status", "2xx", "--limit", "3"],
        ["requests", "list", "--json", "--method", "POST", "--where", "status >= 200"],
        ["requests", "show", WEBHOOK_ID, "--json"],
        ["requests", "show", WEBHOOK_ID, "--raw"],
        ["stats", "--json"],
    ):
        agent = invoke([*args, "--api-url", fixture_agent.url])
        archived = invoke([*args, "--db", str(db)])
        assert agent.exit_code == 0, agent.stderr
        assert archived.exit_code == 0, archived.stderr
        if args[0] == "requests" and args[1] == "list":
            # the agent also lists pending entries; the archive holds completed ones
            done = [x for x in json.loads(agent.stdout) if x["response"] is not None]
            assert json.loads(archived.stdout) == done, args
        else:
            # stats too: the fixture agent's history has no pending entry to tell them apart
            assert archived.stdout_bytes == agent.stdout_bytes, args
    show = invoke(["requests", "show", "last", "--db", str(db), "--json"])
    assert show.exit_code == 0


def test_not_a_database_and_newer_schema(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    r = invoke(["requests", "list", "--db", str(junk)])
    assert r.exit_code == 2
    assert r.stdout == ""
    assert "not an ngrok-inspect archive" in r.stderr
    newer = tmp_path / "newer.sqlite"
    sqlite3.connect(newer).execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    r = invoke(["requests", "list", "--db", str(newer)])
    assert r.exit_code == 2
    assert "schema version" in r.stderr
    r = invoke(["requests", "list", "--db", str(tmp_path / "missing.sqlite")])
    assert r.exit_code == 2
    assert "no archive" in r.stderr


def test_unknown_id_on_db_is_exit_4(fixture_agent: FixtureAgentServer, tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    _record(fixture_agent, db)
    r = invoke(["requests", "show", "airt_nope", "--db", str(db)])
    assert r.exit_code == 4
    assert r.stdout == ""


def test_prune_max_size_keeps_newest(fixture_agent: FixtureAgentServer, tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    _record(fixture_agent, db)
    with ArchiveSource(db) as src:
        newest = src.list_requests(limit=1)[0].id
        total = src.count()
    with ArchiveWriter(db) as w:
        assert w.prune(max_size=1) == total  # nothing fits
    with ArchiveWriter(db) as w:
        assert w.prune(retain=1e12) == 0
    with ArchiveSource(db) as src:
        assert src.count() == 0
    assert newest


def test_add_new_stores_what_is_new_once_in_order_and_up_to_a_limit(
    fixture_agent: FixtureAgentServer, tmp_path: Path
) -> None:
    done = [CapturedRequest(e) for e in fixture_agent.current_list() if e.get("response")]
    assert len(done) >= 4
    with ArchiveWriter(tmp_path / "a.sqlite") as w:
        first = w.add_new(done[:2], "test")
        assert [r.id for r in first] == [r.id for r in done[:2]]
        again = w.add_new(list(reversed(done)), "test", limit=1)
        assert [r.id for r in again] == [done[-1].id]  # the known two are skipped
        rest = w.add_new(done, "test")
        assert [r.id for r in rest] == [r.id for r in done[2:-1]]
        assert w.add_new(done, "test") == []


def test_record_count_stops_inside_one_poll(
    fixture_agent: FixtureAgentServer, tmp_path: Path
) -> None:
    db = tmp_path / "a.sqlite"
    r = invoke(["record", "--db", str(db), "--count", "2", "--api-url", fixture_agent.url])
    assert r.exit_code == 0, r.stderr
    assert "2 new captures" in r.stderr
    with ArchiveSource(db) as src:
        assert src.count() == 2


def _with_status(template: dict[str, Any], n: int, status: int) -> CapturedRequest:
    data = copy.deepcopy(template)
    data["id"] = f"airt_{n:027d}"
    data["start"] = f"2026-11-{1 + n // 1000:02d}T00:{n // 60 % 60:02d}:{n % 60:02d}Z"
    data["response"]["status_code"] = status
    data["response"]["status"] = f"{status} X"
    return CapturedRequest(data)


def test_status_class_query_reads_the_class_index_in_start_order(
    fixture_agent: FixtureAgentServer, tmp_path: Path
) -> None:
    template = next(e for e in fixture_agent.current_list() if e.get("response"))
    statuses = [200, 201, 404, 500, 502, 503, 599, 600, 499]
    reqs = [_with_status(template, n, statuses[n % len(statuses)]) for n in range(900)]
    db = tmp_path / "a.sqlite"
    with ArchiveWriter(db) as w:
        w.add(reqs, "test")
    newest_first = sorted(reqs, key=lambda r: (r.start, r.id), reverse=True)
    with ArchiveSource(db) as src:
        for spec, limit in (("5xx", 50), ("404", 7), ("500-503", 9), ("4xx,201", 11)):
            flt = RequestFilter.parse(status=spec)
            want = [r.id for r in newest_first if flt.matches(r)][:limit]
            assert [r.id for r in src.query(flt, limit)] == want, spec
        executed: list[str] = []
        src.conn.set_trace_callback(executed.append)
        src.query(RequestFilter.parse(status="5xx"), 50)
        src.conn.set_trace_callback(None)
        plan = " ".join(
            str(row[-1]) for row in src.conn.execute("EXPLAIN QUERY PLAN " + executed[-1])
        )
    assert "captures_class_start" in plan
    assert "TEMP B-TREE FOR ORDER BY" not in plan  # no sort of every 5xx capture


def test_a_version_1_archive_is_migrated(tmp_path: Path) -> None:
    db = tmp_path / "v1.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript(MIGRATIONS[0] + "PRAGMA user_version=1;")
    conn.close()
    with ArchiveSource(db) as src:
        assert src.count() == 0
        version = src.conn.execute("PRAGMA user_version").fetchone()[0]
        names = {
            r[0] for r in src.conn.execute("SELECT name FROM sqlite_master WHERE type='index'")
        }
    assert version == SCHEMA_VERSION == 2
    assert "captures_class_start" in names
