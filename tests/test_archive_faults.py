"""The archive under bad conditions: locked by another writer, a newer schema, a disk that
fills while recording, and record following an agent through a ``clear`` and a restart."""

from __future__ import annotations

import base64
import json
import os
import queue
import resource
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import pytest
import requests

from ngrok_inspect.archive import SCHEMA_VERSION, ArchiveError, ArchiveSource, ArchiveWriter, schema
from ngrok_inspect.archive.importing import import_file
from ngrok_inspect.models import CapturedRequest
from tests.cli_invoke import invoke
from tests.support.live import Upstream, send_traffic
from tests.support.servers import FixtureAgentServer

HAR = Path(__file__).parent / "fixtures" / "har"
EXE = [sys.executable, "-m", "ngrok_inspect"]


def _count(db: Path) -> int:
    return int(sqlite3.connect(db).execute("SELECT count(*) FROM captures").fetchone()[0])


# --- a lock held by another writer --------------------------------------------------------


@pytest.fixture
def locked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An archive with captures, and another connection holding its write lock."""
    monkeypatch.setattr(schema, "BUSY_TIMEOUT", 0.2)  # give up quickly (default 5 s)
    db = tmp_path / "a.sqlite"
    import_file(HAR / "quirks.har", db)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("DELETE FROM captures WHERE method = 'PUT'")  # uncommitted
    yield db
    holder.execute("ROLLBACK")
    holder.close()


def test_writers_on_a_locked_archive_exit_2_and_store_nothing(
    locked: Path, fixture_agent: FixtureAgentServer
) -> None:
    for args in (
        ["import", str(HAR / "insomnia.har"), "--db", str(locked)],
        ["record", "--db", str(locked), "--timeout", "0", "--api-url", fixture_agent.url],
    ):
        r = invoke(args)
        assert (r.exit_code, r.stdout) == (2, ""), (args, r.stderr)
        assert f"archive {str(locked)!r} is locked by another writer" in r.stderr
        assert len(r.stderr.splitlines()) == 2  # cause and hint, no traceback


def test_readers_work_while_another_connection_writes(locked: Path) -> None:
    # WAL: the reader sees the last committed state, the writer's delete is not in it
    r = invoke(["requests", "list", "--json", "--db", str(locked)])
    assert r.exit_code == 0, r.stderr
    assert len(json.loads(r.stdout)) == 6


# --- a newer schema -----------------------------------------------------------------------


def test_every_command_refuses_a_newer_schema(
    tmp_path: Path, fixture_agent: FixtureAgentServer
) -> None:
    db = tmp_path / "newer.sqlite"
    import_file(HAR / "quirks.har", db)
    sqlite3.connect(db).execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    for args in (
        ["requests", "list"],
        ["requests", "show", "last"],
        ["stats"],
        ["export", "--format", "har"],
        ["verify", "--secret", "x"],
        ["replay", "last", "--to", "http://127.0.0.1:9"],
        ["import", str(HAR / "insomnia.har")],
        ["record", "--timeout", "0", "--api-url", fixture_agent.url],
    ):
        r = invoke([*args, "--db", str(db)])
        assert (r.exit_code, r.stdout) == (2, ""), (args, r.stderr)
        assert f"has schema version {SCHEMA_VERSION + 1}" in r.stderr, args
    assert _count(db) == 6  # untouched


# --- a disk that fills ----------------------------------------------------------------------


def test_a_full_database_rolls_the_batch_back(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    import_file(HAR / "quirks.har", db)
    with ArchiveWriter(db) as w:
        pages = w.conn.execute("PRAGMA page_count").fetchone()[0]
        w.conn.execute(f"PRAGMA max_page_count={pages + 2}")  # SQLITE_FULL soon
        with ArchiveSource(db) as src:
            reqs = src.list_requests()
        big = []
        for r in reqs:
            data = {**r.data, "id": r.id + "x"}  # new ids: new rows
            raw = r.request.raw + b"A" * 12_000
            data["request"] = {**r.data["request"], "raw": base64.b64encode(raw).decode()}
            big.append(CapturedRequest(data))
        with pytest.raises(ArchiveError) as exc:
            w.add(big, "test")
    assert exc.value.exit_code == 1
    assert "disk full; the last batch was not stored" in exc.value.message
    assert _count(db) == 6  # the batch is all or nothing


def _limited(limit: int) -> Any:
    def setup() -> None:  # in the child: a file-size limit, EFBIG instead of SIGXFSZ
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return setup


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="needs RLIMIT_FSIZE")
def test_disk_filling_while_recording_exits_1_and_keeps_what_was_stored(
    local_agent: Any, tmp_path: Path
) -> None:
    pub = local_agent.tunnels[0].public_url
    db = tmp_path / "a.sqlite"
    proc = subprocess.Popen(
        [*EXE, "record", "--db", str(db), "--json", "--api-url", local_agent.api_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_limited(1_200_000),
    )
    try:
        lines = _reader(proc.stdout)  # type: ignore[arg-type]
        for n in range(3):
            requests.get(f"{pub}/small/{n}", timeout=10)
        small = _take(lines, 3)  # stored and committed before the disk fills
        for n in range(6):
            requests.post(f"{pub}/big/{n}", data=os.urandom(300_000), timeout=10)
        assert proc.wait(timeout=60) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read().decode()  # type: ignore[union-attr]
    assert "the last batch was not stored" in stderr and "Traceback" not in stderr
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = conn.execute("SELECT id, path, length(request_raw) FROM captures").fetchall()
    assert {r["id"] for r in small} <= {row[0] for row in stored}
    assert 3 <= len(stored) < 9  # some fit, the rest did not
    # every row is whole: the raw request of each big one holds its 300000-byte body
    assert all(size > 300_000 for _, path, size in stored if path.startswith("/big/"))
    assert f"{len(stored)} new captures stored in" in stderr


# --- record through a clear and an agent restart ---------------------------------------------


def _reader(stream: IO[bytes]) -> queue.Queue[bytes]:
    lines: queue.Queue[bytes] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _take(lines: queue.Queue[bytes], n: int) -> list[dict[str, Any]]:
    # each line is record's signal that it stored one capture (no sleeping, no polling)
    return [json.loads(lines.get(timeout=60)) for _ in range(n)]


def test_record_survives_clear_and_agent_restart(upstream: Upstream, tmp_path: Path) -> None:
    from ngrok_inspect.local_agent import LocalAgent

    agent = LocalAgent(upstream.url).start()
    api = agent.api_url
    db = tmp_path / "a.sqlite"
    proc = subprocess.Popen(
        [*EXE, "record", "--db", str(db), "--json", "--count", "19", "--api-url", api],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        lines = _reader(proc.stdout)  # type: ignore[arg-type]
        send_traffic(agent.tunnels[0].public_url)
        first = _take(lines, 12)
        assert invoke(["clear", "--yes", "--api-url", api]).exit_code == 0
        for n in range(3):
            requests.get(f"{agent.tunnels[0].public_url}/after-clear/{n}", timeout=10)
        second = _take(lines, 3)
        agent.stop()
        agent = LocalAgent(upstream.url, web_addr=api.removeprefix("http://")).start()
        for n in range(4):
            requests.get(f"{agent.tunnels[0].public_url}/after-restart/{n}", timeout=10)
        third = _take(lines, 4)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()  # type: ignore[union-attr]
    finally:
        agent.stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ids = [r["id"] for r in first + second + third]
    assert len(set(ids)) == 19
    assert [r["path"] for r in second] == [f"/after-clear/{n}" for n in range(3)]
    assert sorted(r["path"] for r in third) == [f"/after-restart/{n}" for n in range(4)]
    with ArchiveSource(db) as src:
        assert sorted(r.id for r in src.list_requests()) == sorted(ids)  # each once


# --- --retain and --max-size ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--retain", "7x", "invalid --retain '7x'"),
        ("--retain", "0", "--retain must be longer than 0"),
        ("--max-size", "10XB", "invalid --max-size '10XB'"),
        ("--max-size", "0", "--max-size must be more than 0"),
    ],
)
def test_retain_and_max_size_bad_values_exit_2(
    tmp_path: Path, fixture_agent: FixtureAgentServer, flag: str, value: str, message: str
) -> None:
    db = tmp_path / "a.sqlite"
    r = invoke(["record", "--db", str(db), flag, value, "--api-url", fixture_agent.url])
    assert (r.exit_code, r.stdout) == (2, ""), r.stderr
    assert message in r.stderr
    assert not db.exists()  # refused before anything was opened


def test_retain_prunes_what_is_older(tmp_path: Path, fixture_agent: FixtureAgentServer) -> None:
    db = tmp_path / "a.sqlite"
    import_file(HAR / "quirks.har", db)  # captures of 2026-11-30
    import_file(HAR / "humanssuck.net.har", db)  # captures of 2015
    r = invoke(
        ["record", "--db", str(db), "--retain", "52w", "--timeout", "0", "--api-url",
         fixture_agent.url]
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert "pruned 4 captures" in r.stderr
    with ArchiveSource(db) as src:
        hosts = {req.tunnel_name for req in src.list_requests()}
    assert "humanssuck.net" not in hosts and "ff.example.test" in hosts


def test_max_size_keeps_the_newest_that_fit(
    tmp_path: Path, fixture_agent: FixtureAgentServer
) -> None:
    db = tmp_path / "a.sqlite"
    import_file(HAR / "humanssuck.net.har", db)  # 2015
    import_file(HAR / "quirks.har", db)  # 2026-11-30: newer than the fixture agent's
    with ArchiveSource(db) as src:
        newest = [r.id for r in src.list_requests()]
    conn = sqlite3.connect(db)
    sizes = dict(
        conn.execute(
            "SELECT id, length(request_raw) + coalesce(length(response_raw), 0) + length(record)"
            " FROM captures"
        ).fetchall()
    )
    budget = sum(sizes[i] for i in newest[:3])
    r = invoke(
        ["record", "--db", str(db), "--max-size", f"{budget / 1000}kB", "--timeout", "0",
         "--api-url", fixture_agent.url]
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    # pruned when it starts and when it stops: what it recorded is older, so it went too
    with ArchiveSource(db) as src:
        assert [req.id for req in src.list_requests()] == newest[:3]
    assert "--max-size" in r.stderr and "pruned" in r.stderr
