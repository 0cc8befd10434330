"""The capture archive: record from an agent, read back with --db, same answers, bad files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from ngrok_inspect.archive import SCHEMA_VERSION, ArchiveSource, ArchiveWriter
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
