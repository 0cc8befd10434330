"""Writing captures into the archive: one transaction per batch, each id stored once."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ngrok_inspect.archive.schema import ArchiveError, archive_error, open_archive
from ngrok_inspect.errors import ExitCode
from ngrok_inspect.models import CapturedRequest

_COLUMNS = (
    "id, start, start_us, tunnel, method, host, path, status, duration_ns, remote_addr,"
    " source, request_raw, response_raw, record, stored_at_us"
)
_INSERT = (
    f"INSERT OR IGNORE INTO captures ({_COLUMNS})"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


# the record column: compact, UTF-8 as is; agent JSON has no cycles to look for
_RECORD_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def epoch_us(when: datetime) -> int:
    """Microseconds since the epoch (UTC) of an aware datetime."""
    delta = when.astimezone(timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _strip_raw(data: dict[str, Any]) -> dict[str, Any]:
    """The record without its base64 ``raw`` fields (they are stored as blobs)."""
    rec = dict(data)
    for side in ("request", "response"):
        msg = rec.get(side)
        if isinstance(msg, dict) and "raw" in msg:
            rec[side] = {k: v for k, v in msg.items() if k != "raw"}
    return rec


def row_for(
    req: CapturedRequest,
    source: str,
    stored_at_us: int | None = None,
    start_us: int | None = None,
) -> tuple[Any, ...]:
    """The ``captures`` row of one capture; ``stored_at_us`` (default: now) and
    ``start_us`` (its start) when the caller has them already (one time for a batch)."""
    host = req.request.header("Host") or ""
    return (
        req.id,
        req.start_text,
        epoch_us(req.start) if start_us is None else start_us,
        req.tunnel_name,
        req.method,
        host,
        req.path,
        req.status_code,
        req.duration_ns,
        req.remote_addr,
        source,
        req.request.raw,
        None if req.response is None else req.response.raw,
        _RECORD_JSON.encode(_strip_raw(req.data)),
        epoch_us(datetime.now(timezone.utc)) if stored_at_us is None else stored_at_us,
    )


def record_from_row(record: str, request_raw: bytes, response_raw: bytes | None) -> dict[str, Any]:
    """The agent's JSON entry again, ``raw`` fields restored from the blobs."""
    data: dict[str, Any] = json.loads(record)
    req = data.get("request")
    if isinstance(req, dict):
        req["raw"] = base64.b64encode(request_raw).decode("ascii")
    resp = data.get("response")
    if isinstance(resp, dict) and response_raw is not None:
        resp["raw"] = base64.b64encode(response_raw).decode("ascii")
    return data


class ArchiveWriter:
    """Stores captures; ``add`` returns how many were new (an id already there is skipped).

    Each call is one transaction: a failure (disk full, locked) stores nothing of it.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.conn = open_archive(self.path)
        # start texts -> epoch microseconds: a busy agent's captures share a few seconds
        self._start_us: dict[str, int] = {}

    def _rows(self, reqs: list[CapturedRequest], source: str) -> list[tuple[Any, ...]]:
        stored_at = epoch_us(datetime.now(timezone.utc))  # one time for the batch
        memo = self._start_us
        if len(memo) > 4096:
            memo.clear()
        rows = []
        for r in reqs:
            start_us = memo.get(r.start_text)
            if start_us is None:
                start_us = memo[r.start_text] = epoch_us(r.start)
            rows.append(row_for(r, source, stored_at, start_us))
        return rows

    def add(self, reqs: Iterable[CapturedRequest], source: str) -> int:
        """Store the completed captures of ``reqs``; the number actually inserted."""
        rows = self._rows([r for r in reqs if not r.pending], source)
        if not rows:
            return 0
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            before = self.conn.total_changes
            self.conn.executemany(_INSERT, rows)
            inserted = self.conn.total_changes - before
            self.conn.execute("COMMIT")
        except sqlite3.Error as e:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise archive_error(e, self.path) from None
        return inserted

    def add_rows(self, batches: Iterable[list[tuple[Any, ...]]]) -> int:
        """Store every batch of rows (:func:`row_for`) all or nothing, holding the archive's
        write lock only briefly; the number inserted. The batches go to a scratch file
        beside the archive as they come (memory holds one batch), then one short
        transaction copies them in, so a ``record`` writing the same archive waits for the
        copy, not for the whole import. An exception from ``batches`` or the database (or
        Ctrl-C) stores nothing."""
        try:
            fd, name = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".import", dir=self.path.parent
            )
        except OSError as e:
            raise ArchiveError(
                f"cannot write beside the archive {str(self.path)!r}: {e.strerror or e}",
                hint="Import into an archive in a directory you can write",
            ) from None
        os.close(fd)
        scratch = Path(name)
        try:
            stage = sqlite3.connect(scratch, isolation_level=None)
            try:
                stage.execute("PRAGMA journal_mode=OFF")  # a scratch file: nothing to recover
                stage.execute("PRAGMA synchronous=OFF")
                stage.execute(f"CREATE TABLE captures ({_COLUMNS}, PRIMARY KEY (id))")
                stage.execute("BEGIN")
                for rows in batches:
                    stage.executemany(_INSERT, rows)
                    del rows  # freed before the next batch is built
                stage.execute("COMMIT")
            finally:
                stage.close()
            self.conn.execute("ATTACH DATABASE ? AS stage", (str(scratch),))
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                before = self.conn.total_changes
                self.conn.execute(
                    f"INSERT OR IGNORE INTO main.captures ({_COLUMNS})"
                    f" SELECT {_COLUMNS} FROM stage.captures ORDER BY rowid"
                )
                inserted = self.conn.total_changes - before
                self.conn.execute("COMMIT")
            finally:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                self.conn.execute("DETACH DATABASE stage")
        except sqlite3.Error as e:
            err = archive_error(e, self.path)
            if err.exit_code == ExitCode.FAILURE:  # a full disk: say that nothing was kept
                err = ArchiveError(
                    f"archive {str(self.path)!r}: disk full; nothing was stored",
                    hint="Free some space beside the archive (the rows are staged there)",
                )
                err.exit_code = ExitCode.FAILURE
            raise err from None
        finally:
            scratch.unlink(missing_ok=True)
        return inserted

    def add_new(
        self, reqs: Iterable[CapturedRequest], source: str, limit: int | None = None
    ) -> list[CapturedRequest]:
        """Store the completed captures of ``reqs`` not stored yet (at most ``limit``), in
        one transaction; the ones stored, in the order given."""
        done = [r for r in reqs if not r.pending]
        if not done:
            return []
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            known: set[str] = set()
            for pos in range(0, len(done), 500):  # below SQLite's bound-parameter limit
                ids = [r.id for r in done[pos : pos + 500]]
                sql = f"SELECT id FROM captures WHERE id IN ({','.join('?' * len(ids))})"
                known.update(str(row[0]) for row in self.conn.execute(sql, ids))
            new: list[CapturedRequest] = []
            for r in done:
                if r.id not in known and (limit is None or len(new) < limit):
                    known.add(r.id)
                    new.append(r)
            self.conn.executemany(_INSERT, self._rows(new, source))
            self.conn.execute("COMMIT")
        except sqlite3.Error as e:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise archive_error(e, self.path) from None
        return new

    def prune(self, *, retain: float | None = None, max_size: int | None = None) -> int:
        """Delete captures older than ``retain`` seconds, then the oldest until the stored
        bytes (raw blobs + records) fit ``max_size``; the number deleted."""
        deleted = 0
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            before = self.conn.total_changes
            if retain is not None:
                floor = int((time.time() - retain) * 1_000_000)
                self.conn.execute("DELETE FROM captures WHERE start_us < ?", (floor,))
            if max_size is not None:
                # newest first, keep while the running total fits
                self.conn.execute(
                    "DELETE FROM captures WHERE id IN (SELECT id FROM (SELECT id, SUM("
                    "length(request_raw) + coalesce(length(response_raw), 0) + length(record)"
                    ") OVER (ORDER BY start_us DESC, id DESC) AS total FROM captures)"
                    " WHERE total > ?)",
                    (max_size,),
                )
            deleted = self.conn.total_changes - before
            self.conn.execute("COMMIT")
        except sqlite3.Error as e:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise archive_error(e, self.path) from None
        return deleted

    def close(self) -> None:
        """Close the database."""
        self.conn.close()

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
