"""``record``'s archive writer on a thread of its own: a batch is written while the next
poll runs.

Done in turn, each poll of a busy agent waited for the previous batch's SQLite work (its
rows, the inserts, the commit, a checkpoint's fsync) and each batch waited for the
agent's listing. :class:`BackgroundWriter` runs an
:class:`~ngrok_inspect.archive.store.ArchiveWriter` on one thread with at most one batch
in flight: :meth:`~BackgroundWriter.submit` starts it, :meth:`~BackgroundWriter.collect`
waits for it. Every call on the database runs on that one thread (a sqlite3 connection
stays in the thread that opened it) in the order made, so a batch is still one
transaction and an id is still stored once.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ngrok_inspect.archive.store import ArchiveWriter
from ngrok_inspect.models import CapturedRequest

__all__ = ["BackgroundWriter"]


class BackgroundWriter:
    """:meth:`ArchiveWriter.add_new` of one batch at a time, on a writer thread.

    Opening raises the archive's ``ArchiveError`` at once; a batch's error is raised by
    :meth:`collect`. :meth:`close` waits for a batch still in flight (collect it first to
    learn what it stored), closes the database and stops the thread.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ngrok-inspect-archive")
        try:
            self._writer = self._pool.submit(ArchiveWriter, self.path).result()
        except BaseException:
            self._pool.shutdown()
            raise
        self._inflight: Future[list[CapturedRequest]] | None = None
        self._closed = False

    def submit(
        self, reqs: Iterable[CapturedRequest], source: str, limit: int | None = None
    ) -> None:
        """Start storing the captures of ``reqs`` not stored yet (at most ``limit``), in one
        transaction; returns at once. The previous batch must have been collected."""
        if self._inflight is not None:
            raise RuntimeError("collect() the batch in flight before submitting another")
        self._inflight = self._pool.submit(self._writer.add_new, list(reqs), source, limit)

    @property
    def in_flight(self) -> bool:
        """A batch was submitted and not collected yet."""
        return self._inflight is not None

    def collect(self) -> list[CapturedRequest]:
        """Wait for the batch in flight: the captures it stored, in the order given ([]
        when none was in flight); its ``ArchiveError`` (nothing of it stored) is raised."""
        future, self._inflight = self._inflight, None
        return [] if future is None else future.result()

    def prune(self, *, retain: float | None = None, max_size: int | None = None) -> int:
        """:meth:`ArchiveWriter.prune`, after the batch in flight; waits for it."""
        return self._pool.submit(self._writer.prune, retain=retain, max_size=max_size).result()

    def close(self) -> None:
        """Let a batch in flight finish, close the database, stop the thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        future, self._inflight = self._inflight, None
        if future is not None:
            future.exception()  # its transaction is whole or rolled back: wait for either
        self._pool.submit(self._writer.close).result()
        self._pool.shutdown()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
