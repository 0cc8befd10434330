"""Notice at once when the reader of our stdout pipe goes away (``… | head -1``).

A streaming command (``requests list -f``, ``wait``, ``monitor``) writes only when
something happens, so a closed pipe would surface as ``EPIPE`` at the next write, minutes
or never later. :func:`watch_reader` asks the kernel instead: a thread blocks in
``poll()`` on the pipe with no events requested, which reports only ``POLLERR`` (a pipe
whose last reader closed) or ``POLLHUP`` (a socket or terminal hung up), and sets an
event the command's loop already sleeps on. No polling interval, no probe writes.

Only pipes and sockets are watched (a file or a terminal has no reader to lose), and only
where ``select.poll`` exists; elsewhere the event is never set and the next write's
``EPIPE`` still ends the command.
"""

from __future__ import annotations

import os
import select
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

__all__ = ["watch_reader"]


@contextmanager
def watch_reader(stream: IO[Any] | None = None) -> Iterator[threading.Event]:
    """An event set when the reader of ``stream`` (stdout by default) goes away, for as
    long as the block runs."""
    gone = threading.Event()
    fd = _watchable_fd(sys.stdout if stream is None else stream)
    if fd is None:
        yield gone
        return
    wake_r, wake_w = os.pipe()
    watcher = threading.Thread(
        target=_watch, args=(fd, wake_r, gone), name="ngrok-inspect-pipewatch", daemon=True
    )
    watcher.start()
    try:
        yield gone
    finally:
        os.write(wake_w, b"x")
        watcher.join()
        os.close(wake_r)
        os.close(wake_w)


def _watchable_fd(stream: IO[Any]) -> int | None:
    if not hasattr(select, "poll"):
        return None
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError):  # a StringIO, a closed stream
        return None
    return fd if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) else None


def _watch(fd: int, wake: int, gone: threading.Event) -> None:
    poller = select.poll()
    poller.register(fd, 0)  # nothing asked for: only POLLERR / POLLHUP / POLLNVAL come
    poller.register(wake, select.POLLIN)
    while True:
        for ready, events in poller.poll():
            if ready == wake:
                return
            if events & (select.POLLERR | select.POLLHUP):
                gone.set()
                return
            if events & select.POLLNVAL:  # stdout was closed under us: nothing to watch
                return
