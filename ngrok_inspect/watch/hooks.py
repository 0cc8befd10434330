"""Shell commands the watch loops run: ``wait --exec`` (the trigger) and
``monitor --exec`` (the alert hook). Their output goes to our stderr: stdout carries
data only."""

from __future__ import annotations

import contextlib
import json
import shlex
import subprocess
import sys
from typing import TYPE_CHECKING

from ngrok_inspect.errors import ExitCode, NgrokInspectError

if TYPE_CHECKING:
    from ngrok_inspect.watch.monitor import Alert

__all__ = ["TriggerError", "run_alert_hook", "run_trigger"]


class TriggerError(NgrokInspectError):
    """The ``--exec`` trigger command failed (exit 1); the wait ends."""

    exit_code = ExitCode.FAILURE


def run_trigger(command: str, *, timeout: float | None = None) -> None:
    """Run ``command`` in the shell, its output on our stderr (stdout carries data only).

    :class:`TriggerError` when it cannot start, exits non-zero or outlives ``timeout``.
    """
    _flush_stderr()
    try:
        proc = subprocess.run(
            command,
            shell=True,
            stdin=subprocess.DEVNULL,
            stdout=_STDERR_FD,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TriggerError(
            f"trigger command did not finish within {timeout:g}s: {_short(command)}",
            hint="The command given to --exec must finish; raise --timeout or background it",
        ) from None
    except OSError as exc:
        raise TriggerError(
            f"cannot run trigger command {_short(command)}: {exc.strerror or exc}",
            hint="Check the command given to --exec",
        ) from None
    if proc.returncode != 0:
        raise TriggerError(
            f"trigger command exited with status {proc.returncode}: {_short(command)}",
            hint="Its output is above; fix it, or drop --exec",
        )


#: the command's output goes to our stderr file descriptor: stdout carries data only
_STDERR_FD = 2


def _flush_stderr() -> None:
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()


def _short(command: str, width: int = 60) -> str:
    try:
        first = shlex.split(command)[0] if command.strip() else command
    except ValueError:
        first = command
    text = command if len(command) <= width else first + " …"
    return repr(text)


def run_alert_hook(command: str, alert: Alert, *, timeout: float = 60.0) -> str | None:
    """Run ``command`` in the shell with the alert's JSON on stdin (its output goes to our
    stderr). Returns None on success, else a one-line reason; never raises for the
    command's own failure (monitoring goes on)."""

    _flush_stderr()
    try:
        proc = subprocess.run(
            command,
            shell=True,
            input=json.dumps(alert.to_dict()) + "\n",
            text=True,
            stdout=_STDERR_FD,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"alert command {_short(command)} did not finish within {timeout:g}s"
    except OSError as exc:
        return f"cannot run alert command {_short(command)}: {exc.strerror or exc}"
    if proc.returncode != 0:
        return f"alert command {_short(command)} exited with status {proc.returncode}"
    return None
