"""A live feed of captures into the archive: queued by any thread, written in batches.

:class:`ArchiveSink` is a capture listener (``LocalAgent(on_capture=sink)``): calling it
only queues the capture; one writer thread of its own stores what has queued up since
its last write in one transaction (``ArchiveWriter.add``: each id once). SQLite work
therefore never runs on the agent's event loop, and a burst of traffic costs one
transaction per batch, not one per capture.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from pathlib import Path

from ngrok_inspect.archive.store import ArchiveWriter
from ngrok_inspect.errors import NgrokInspectError
from ngrok_inspect.models import CapturedRequest

MAX_BATCH = 1000  # captures in one transaction at most


class ArchiveSink:
    """Stores every capture it is called with into the archive at ``path``.

    ``source`` (stored with each capture: the agent it came from) may be a callable,
    asked at each write, for an agent whose address is known only once it started.
    ``start()`` opens (or creates) the archive on the writer thread and raises its
    ``ArchiveError`` there and then; ``close()`` writes what is still queued and stops.
    A failed batch (disk full, locked) is rolled back whole, counted in ``failed``,
    reported once per distinct reason through ``on_error``, and writing goes on.
    """

    def __init__(
        self,
        path: str | Path,
        source: str | Callable[[], str],
        *,
        on_error: Callable[[NgrokInspectError, int], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.source = source
        self.on_error = on_error
        self.stored = 0  # captures inserted (an id already in the archive is not counted)
        self.failed = 0  # captures in batches that could not be written
        self.batches = 0  # transactions written (or tried)
        self.last_error: NgrokInspectError | None = None
        self._queue: queue.SimpleQueue[CapturedRequest | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> ArchiveSink:
        """Open the archive on the writer thread; its ``ArchiveError`` is raised here."""
        opened = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                writer = ArchiveWriter(self.path)
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                opened.set()
                return
            opened.set()
            with writer:
                self._write_until_closed(writer)

        self._thread = threading.Thread(target=run, name="ngrok-inspect-archive", daemon=True)
        self._thread.start()
        opened.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def __call__(self, req: CapturedRequest) -> None:
        """Queue one completed capture (never blocks, never raises)."""
        self._queue.put(req)

    def close(self) -> None:
        """Write every queued capture, then stop the writer thread (idempotent)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(None)
        thread.join()

    def __enter__(self) -> ArchiveSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write_until_closed(self, writer: ArchiveWriter) -> None:
        while True:
            first = self._queue.get()
            batch = [] if first is None else [first]
            closing = first is None
            while not closing and len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    closing = True
                else:
                    batch.append(item)
            if batch:
                self._write(writer, batch)
            if closing:
                return

    def _write(self, writer: ArchiveWriter, batch: list[CapturedRequest]) -> None:
        source = self.source() if callable(self.source) else self.source
        self.batches += 1
        try:
            self.stored += writer.add(batch, source)
        except Exception as caught:  # the writer thread must outlive any one batch
            exc = (
                caught
                if isinstance(caught, NgrokInspectError)
                else NgrokInspectError(
                    f"cannot store captures in {str(self.path)!r} ({type(caught).__name__})"
                )
            )
            self.failed += len(batch)
            new_reason = self.last_error is None or exc.message != self.last_error.message
            self.last_error = exc
            if new_reason and self.on_error is not None:
                self.on_error(exc, len(batch))
