"""The archive's schema, its version (``PRAGMA user_version``) and the migrations to it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ngrok_inspect.errors import ExitCode, NgrokInspectError

SCHEMA_VERSION = 2
#: Seconds a writer waits for another writer's lock before giving up ("locked").
BUSY_TIMEOUT = 5.0

# MIGRATIONS[n] takes a database from version n to n + 1; each runs in one transaction.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE captures (
        id           TEXT PRIMARY KEY,
        start        TEXT NOT NULL,      -- RFC 3339 as the agent sent it
        start_us     INTEGER NOT NULL,   -- microseconds since the epoch, UTC (ordering)
        tunnel       TEXT NOT NULL,
        method       TEXT NOT NULL,
        host         TEXT NOT NULL,
        path         TEXT NOT NULL,
        status       INTEGER,            -- NULL: no response
        duration_ns  INTEGER NOT NULL,
        remote_addr  TEXT NOT NULL,
        source       TEXT NOT NULL,      -- where it came from: an agent URL or a file
        request_raw  BLOB NOT NULL,
        response_raw BLOB,
        record       TEXT NOT NULL,      -- the agent's JSON entry, its 'raw' fields removed
        stored_at_us INTEGER NOT NULL
    );
    CREATE INDEX captures_start ON captures (start_us);
    CREATE INDEX captures_tunnel_start ON captures (tunnel, start_us);
    CREATE INDEX captures_status_start ON captures (status, start_us);
    CREATE INDEX captures_method_start ON captures (method, start_us);
    """,
    # v2: a status class ('5xx') in start order, so '--status 5xx --limit 50' reads 50
    # index entries instead of sorting every 5xx capture (a range on 'status' cannot give
    # start order)
    """
    CREATE INDEX captures_class_start ON captures (status / 100, start_us);
    """,
]
assert len(MIGRATIONS) == SCHEMA_VERSION


class ArchiveError(NgrokInspectError):
    """The archive file cannot be used: not a database, newer schema, locked, disk full
    (exit 2 for what the user must fix, 1 for a write that failed)."""

    exit_code = ExitCode.USAGE


_HINT = "Give --db a file written by 'ngrok-inspect record' or 'import', or a new path"


def open_archive(path: str | Path, *, create: bool = True) -> sqlite3.Connection:
    """Open (and create or migrate) the archive at ``path``; :class:`ArchiveError` with a
    one-line cause when it cannot be used."""
    p = Path(path)
    if not create and not p.exists():
        raise ArchiveError(f"no archive at {str(p)!r}", hint=_HINT)
    if p.is_dir():
        raise ArchiveError(f"{str(p)!r} is a directory, not an archive file", hint=_HINT)
    try:
        conn = sqlite3.connect(p, timeout=BUSY_TIMEOUT, isolation_level=None)
    except sqlite3.Error as e:
        raise ArchiveError(f"cannot open archive {str(p)!r}: {e}", hint=_HINT) from None
    try:
        _prepare(conn, p)
    except BaseException:
        conn.close()
        raise
    return conn


def _prepare(conn: sqlite3.Connection, p: Path) -> None:
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise ArchiveError(
                f"archive {str(p)!r} has schema version {version}; this ngrok-inspect "
                f"reads up to {SCHEMA_VERSION}",
                hint="Upgrade ngrok-inspect to read it",
            )
        # WAL: readers (requests list --db) work while 'record' writes
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        while version < SCHEMA_VERSION:
            conn.execute("BEGIN IMMEDIATE")
            for stmt in _statements(MIGRATIONS[version]):
                conn.execute(stmt)
            version += 1
            conn.execute(f"PRAGMA user_version={version}")
            conn.execute("COMMIT")
    except sqlite3.DatabaseError as e:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise archive_error(e, p) from None


def _statements(script: str) -> list[str]:
    lines = [ln.split("--", 1)[0] for ln in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def archive_error(e: sqlite3.Error, p: str | Path) -> ArchiveError:
    """A one-line :class:`ArchiveError` for an sqlite3 error on the archive ``p``."""
    text = str(e)
    if "not a database" in text or "malformed" in text:
        return ArchiveError(f"{str(p)!r} is not an ngrok-inspect archive ({text})", hint=_HINT)
    if "locked" in text or "busy" in text:
        return ArchiveError(
            f"archive {str(p)!r} is locked by another writer",
            hint="Wait for it to finish, or record into another file",
        )
    if "full" in text or "disk I/O error" in text:  # ENOSPC; EFBIG (a file size limit)
        err = ArchiveError(
            f"archive {str(p)!r}: disk full; the last batch was not stored",
            hint="Free some space, or prune with --retain/--max-size",
        )
        err.exit_code = ExitCode.FAILURE
        return err
    return ArchiveError(f"archive {str(p)!r}: {text}", hint=_HINT)
