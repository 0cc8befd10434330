"""record's writer thread: a batch is written while the caller goes on, one transaction
each, each id once; its failure comes back at collect(); Ctrl-C reports what was stored."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ngrok_inspect.archive import ArchiveError, ArchiveSource, ArchiveWriter, schema
from ngrok_inspect.archive.background import BackgroundWriter
from ngrok_inspect.models import CapturedRequest
from tests.support.live import send_traffic
from tests.support.servers import FixtureAgentServer

EXE = [sys.executable, "-m", "ngrok_inspect"]


def _count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM captures").fetchone()[0])


@pytest.fixture
def done(fixture_agent: FixtureAgentServer) -> list[CapturedRequest]:
    reqs = [CapturedRequest(e) for e in fixture_agent.current_list() if e.get("response")]
    assert len(reqs) >= 4
    return reqs


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Path, sqlite3.Connection]]:
    """An archive, and another connection holding its write lock until released."""
    db = tmp_path / "a.sqlite"
    ArchiveWriter(db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    yield db, holder
    if holder.in_transaction:
        holder.execute("ROLLBACK")
    holder.close()


def test_submit_returns_while_the_batch_waits_to_be_written(
    held: tuple[Path, sqlite3.Connection], done: list[CapturedRequest]
) -> None:
    db, holder = held
    with BackgroundWriter(db) as writer:
        writer.submit(done, "test")  # returns although the write lock is taken
        assert writer.in_flight
        assert _count(db) == 0
        holder.execute("ROLLBACK")  # the writer thread gets the lock now
        assert [r.id for r in writer.collect()] == [r.id for r in done]
        assert not writer.in_flight
        writer.submit(done, "test")
        assert writer.collect() == []  # each id once
        with pytest.raises(RuntimeError):
            writer.submit(done, "test")
            writer.submit(done, "test")  # the first one was not collected
    assert _count(db) == len(done)


def test_a_failed_batch_is_raised_by_collect_and_the_writer_goes_on(
    held: tuple[Path, sqlite3.Connection],
    done: list[CapturedRequest],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db, holder = held
    monkeypatch.setattr(schema, "BUSY_TIMEOUT", 0.2)  # give up quickly (default 5 s)
    with BackgroundWriter(db) as writer:
        writer.submit(done, "test")
        with pytest.raises(ArchiveError, match="locked by another writer"):
            writer.collect()
        holder.execute("ROLLBACK")
        writer.submit(done[:2], "test")
        assert [r.id for r in writer.collect()] == [r.id for r in done[:2]]
        assert writer.prune(retain=1.0) == 2  # the fixture's captures are older than 1 s
    assert _count(db) == 0


def test_close_lets_the_batch_in_flight_finish(tmp_path: Path, done: list[CapturedRequest]) -> None:
    db = tmp_path / "a.sqlite"
    writer = BackgroundWriter(db)
    writer.submit(done, "test")
    writer.close()
    writer.close()  # idempotent
    assert _count(db) == len(done)


def test_record_interrupted_reports_every_capture_it_stored(
    local_agent: Any, tmp_path: Path
) -> None:
    db = tmp_path / "a.sqlite"
    proc = subprocess.Popen(
        [*EXE, "record", "--db", str(db), "--json", "--api-url", local_agent.api_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,  # unbuffered: readline() takes one line, communicate() the rest
    )
    try:
        assert proc.stdout is not None
        send_traffic(local_agent.tunnels[0].public_url)
        first = json.loads(proc.stdout.readline())  # record's signal: it stored one
        send_traffic(local_agent.tunnels[0].public_url)  # more, likely in flight at Ctrl-C
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    # every line whole: a Ctrl-C during a large write to the pipe used to cut one short
    reported = [first["id"]] + [json.loads(line)["id"] for line in out.splitlines()]
    with ArchiveSource(db) as src:
        stored = [r.id for r in src.list_requests()]
    assert sorted(reported) == sorted(stored)  # what is in the file was said, once each
    assert len(set(reported)) == len(reported)


def test_a_second_ctrl_c_stops_record_waiting_for_a_silent_agent(tmp_path: Path) -> None:
    # an "agent" that accepts the connection and never answers: record waits in its poll
    # for --api-timeout (60 s); the first Ctrl-C asks it to stop after that poll, the next
    # one stops it at once
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        db = tmp_path / "a.sqlite"
        proc = subprocess.Popen(
            [*EXE, "--api-timeout", "60", "record", "--db", str(db), "--api-url",
             f"http://127.0.0.1:{port}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            conn, _ = silent.accept()  # record's first poll is waiting for its answer
            with conn:
                for _ in range(100):  # signals sent close together may arrive as one
                    proc.send_signal(signal.SIGINT)
                    try:
                        proc.wait(timeout=0.2)
                        break
                    except subprocess.TimeoutExpired:
                        continue
                out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130, err
    assert out == b"" and b"Traceback" not in err
    with ArchiveSource(db) as src:
        assert src.count() == 0
