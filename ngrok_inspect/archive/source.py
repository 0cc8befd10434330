"""Reading captures back: the same interface the reading commands use on an agent.

:class:`ArchiveSource` offers ``list_requests``, ``get_request``, ``resolve_id`` and
``tunnels`` like :class:`~ngrok_inspect.client.AgentClient`, returning the same
:class:`~ngrok_inspect.models.CapturedRequest` models, plus :meth:`ArchiveSource.query`:
SQL decides tunnel, method, status, errors, time, order and (when nothing else is asked)
the limit; the rest of the :class:`~ngrok_inspect.filters.RequestFilter` runs in Python.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from ngrok_inspect.archive.schema import archive_error, open_archive
from ngrok_inspect.archive.store import epoch_us, record_from_row
from ngrok_inspect.errors import AmbiguousIdError, RequestNotFoundError, UsageError
from ngrok_inspect.filters import RequestFilter
from ngrok_inspect.models import CapturedRequest

_COLUMNS = "record, request_raw, response_raw"
_ORDER = " ORDER BY start_us DESC, id DESC"


class ArchiveSource:
    """Captures stored in an archive file, newest first."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.conn = open_archive(self.path, create=False)

    def __enter__(self) -> ArchiveSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database."""
        self.conn.close()

    def _rows(self, sql: str, params: list[Any]) -> list[CapturedRequest]:
        try:
            rows = self.conn.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise archive_error(e, self.path) from None
        return [CapturedRequest(record_from_row(*row)) for row in rows]

    def list_requests(
        self, limit: int | None = None, tunnel_name: str | None = None
    ) -> list[CapturedRequest]:
        """Newest first; ``tunnel_name`` matched as a substring (as the agent does);
        ``limit=None`` means everything stored."""
        sql = f"SELECT {_COLUMNS} FROM captures"
        params: list[Any] = []
        if tunnel_name is not None:
            sql += " WHERE instr(tunnel, ?) > 0"
            params.append(tunnel_name)
        sql += _ORDER
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return self._rows(sql, params)

    def query(self, flt: RequestFilter, limit: int | None = None) -> list[CapturedRequest]:
        """The newest ``limit`` captures matching ``flt`` (all when None)."""
        where: list[str] = []
        params: list[Any] = []
        if flt.tunnel is not None:
            where.append("tunnel = ?")
            params.append(flt.tunnel)
        if flt.methods:
            where.append(f"upper(method) IN ({','.join('?' * len(flt.methods))})")
            params.extend(flt.methods)
        if flt.statuses:
            terms = []
            for r in flt.statuses:  # each in the shape an index serves in start order
                if r.low == r.high:
                    terms.append("status = ?")
                    params.append(r.low)
                elif r.low % 100 == 0 and r.high == r.low + 99:
                    terms.append("status / 100 = ?")  # the captures_class_start index
                    params.append(r.low // 100)
                else:
                    terms.append("status BETWEEN ? AND ?")
                    params.extend((r.low, r.high))
            where.append("(" + " OR ".join(terms) + ")")
        if flt.errors:
            # a record with the local agent's "error" (an answer cut off mid-body) is an
            # error whatever its status: the text test is a superset, Python decides
            where.append("(status IS NULL OR status >= 400 OR instr(record, '\"error\":') > 0)")
        if flt.since is not None:
            where.append("start_us >= ?")
            params.append(epoch_us(flt.since))
        sql = f"SELECT {_COLUMNS} FROM captures"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += _ORDER
        python_side = bool(
            flt.paths or flt.headers or flt.body_contains is not None or flt.where or flt.errors
        )
        if limit is not None and not python_side:
            sql += " LIMIT ?"
            params.append(int(limit))
        reqs = flt.apply(self._rows(sql, params)) if python_side else self._rows(sql, params)
        return reqs if limit is None else reqs[:limit]

    def get_request(self, request_id: str) -> CapturedRequest:
        """One capture; :class:`RequestNotFoundError` when the archive has no such id."""
        rows = self._rows(f"SELECT {_COLUMNS} FROM captures WHERE id = ?", [request_id])
        if not rows:
            raise RequestNotFoundError(
                request_id,
                hint=f"List the ids in the archive: 'ngrok-inspect requests list --db {self.path}'",
            )
        return rows[0]

    def resolve_id(self, ref: str) -> str:
        """A full id, a unique prefix (with or without ``airt_``), or ``last`` -> full id."""
        ref = ref.strip()
        if not ref:
            raise UsageError(
                "empty request id", hint="Give an id from 'ngrok-inspect requests list'"
            )
        try:
            if ref.lower() in ("last", "latest", "newest"):
                row = self.conn.execute("SELECT id FROM captures" + _ORDER + " LIMIT 1").fetchone()
                if row is None:
                    raise RequestNotFoundError(ref, hint="The archive holds no captures yet")
                return str(row[0])
            if self.conn.execute("SELECT 1 FROM captures WHERE id = ?", (ref,)).fetchone():
                return ref
            like = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            rows = self.conn.execute(
                "SELECT id FROM captures WHERE id LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\'"
                " LIMIT 20",
                (like + "%", "airt\\_" + like + "%"),
            ).fetchall()
        except sqlite3.Error as e:
            raise archive_error(e, self.path) from None
        # LIKE ignores ASCII case; ids are case-sensitive
        matches = [str(r[0]) for r in rows if str(r[0]).startswith((ref, "airt_" + ref))]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise AmbiguousIdError(ref, matches)
        raise RequestNotFoundError(ref)

    def tunnel_names(self) -> list[str]:
        """The tunnel names stored, sorted."""
        try:
            rows = self.conn.execute("SELECT DISTINCT tunnel FROM captures ORDER BY tunnel")
            return [str(r[0]) for r in rows.fetchall()]
        except sqlite3.Error as e:
            raise archive_error(e, self.path) from None

    def count(self) -> int:
        """How many captures are stored."""
        return int(self.conn.execute("SELECT count(*) FROM captures").fetchone()[0])
