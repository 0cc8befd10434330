"""Atomic file writes: a temporary file in the target's directory, fsync'ed, then renamed.

Nothing half-written is ever left at the target, and no temporary file survives a
failure. Also :func:`write_stdout`: data to stdout with write errors (``/dev/full``, a
closed pipe's EIO) turned into :class:`~ngrok_inspect.errors.OutputError` with the real
reason.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import sys
import tempfile
from pathlib import Path

from ngrok_inspect.errors import OutputError, UsageError

__all__ = ["write_atomic", "write_stdout"]


def _hint(err: OSError) -> str:
    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return "Free some space, or write somewhere else with -o PATH"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "Choose a writable directory with -o PATH"
    return "Check the path, or write to stdout without -o"


def _fail(path: Path, err: OSError) -> OutputError:
    reason = err.strerror or str(err)
    return OutputError(f"cannot write {path}: {reason}", hint=_hint(err))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def write_atomic(path: Path, data: str | bytes, *, force: bool = False) -> None:
    """Write ``data`` to ``path`` atomically, or not at all.

    The data goes to a temporary file in the same directory, is fsync'ed, then renamed
    over ``path`` (``os.replace``); on any failure the target is untouched and the
    temporary file removed. An existing ``path`` needs ``force`` (UsageError otherwise,
    exit 2); a missing directory is a UsageError too; I/O failures (full disk, permission)
    raise OutputError (exit 1). A device or FIFO (``/dev/stdout``) is written directly.
    A new file gets the usual permissions (0666 minus the umask); a replaced file keeps
    its mode.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path = Path(path)
    try:
        st: os.stat_result | None = path.stat()
    except FileNotFoundError:
        st = None
    except OSError as e:
        if e.errno == errno.ENOTDIR:
            raise UsageError(
                f"cannot write {path}: {path.parent} is not a directory",
                hint="Choose an existing directory with -o PATH",
            ) from None
        raise _fail(path, e) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise UsageError(
            f"cannot write {path}: it is a directory", hint="Give a file name with -o PATH"
        )
    if st is not None and not stat.S_ISREG(st.st_mode):
        _write_device(path, payload)
        return
    if st is not None and not force:
        raise UsageError(
            f"{path} already exists", hint="Use --force to overwrite it, or choose another path"
        )
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(
            f"cannot write {path}: directory {parent} does not exist",
            hint="Create it first, or choose another path with -o",
        )
    try:
        fd, tmp_name = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise _fail(path, e) from None
    tmp = Path(tmp_name)
    try:
        try:
            _write_all(fd, payload)
            os.fsync(fd)
            if st is not None:
                os.fchmod(fd, stat.S_IMODE(st.st_mode))
            else:
                umask = os.umask(0)
                os.umask(umask)
                os.fchmod(fd, 0o666 & ~umask)
        finally:
            os.close(fd)
        if force:
            tmp.replace(path)
        else:
            _link_no_clobber(tmp, path)
        _fsync_dir(parent)
    except FileExistsError:
        _unlink_quietly(tmp)
        raise UsageError(
            f"{path} already exists", hint="Use --force to overwrite it, or choose another path"
        ) from None
    except OSError as e:
        _unlink_quietly(tmp)
        raise _fail(path, e) from None
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _link_no_clobber(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` to ``path`` unless ``path`` appeared meanwhile (FileExistsError)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # no hard links here (some filesystems): a plain rename, checked first
        if path.exists():
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
        tmp.replace(path)
        return
    tmp.unlink()


def _fsync_dir(directory: Path) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(dfd)
    finally:
        os.close(dfd)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _write_device(path: Path, payload: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as e:
        raise _fail(path, e) from None
    try:
        _write_all(fd, payload)
    except OSError as e:
        raise _fail(path, e) from None
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)


#: held back while stdout is written: a signal that interrupts a large blocking write to
#: a pipe makes CPython's buffered writer drop the rest of it (an NDJSON line cut in two,
#: the next one glued on); the signal is handled as soon as the write is done
_HELD_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def write_stdout(data: str | bytes) -> None:
    """Write ``data`` to stdout and flush it, whole even if Ctrl-C comes meanwhile (it is
    handled right after); an OS error (full disk, EIO) becomes an OutputError naming the
    reason (exit 1). A closed pipe stays a BrokenPipeError, which the CLI ends quietly
    (as ``head`` expects)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - Windows
        _write_stdout(payload)
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
    try:
        _write_stdout(payload)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _write_stdout(payload: bytes) -> None:
    try:
        sys.stdout.flush()
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is None:  # pragma: no cover - a text-only stream (tests' capture)
            sys.stdout.write(payload.decode("utf-8", "surrogateescape"))
            sys.stdout.flush()
        else:
            buffer.write(payload)
            buffer.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        reason = e.strerror or str(e)
        raise OutputError(f"cannot write to stdout: {reason}", hint=_hint(e)) from None
