"""Where output goes and how it looks: terminal or pipe, colour or not, JSON.

Only :func:`make_console` imports rich (lazily), so ``--json`` paths never load it.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console


def is_terminal(stream: TextIO | None = None) -> bool:
    """True when ``stream`` (stdout) is a terminal, or ``FORCE_COLOR`` asks to act as one."""
    if os.environ.get("FORCE_COLOR"):
        return True
    stream = stream or sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def color_disabled(no_color: bool) -> bool:
    """``--no-color`` or a non-empty ``NO_COLOR`` variable (https://no-color.org)."""
    return no_color or bool(os.environ.get("NO_COLOR"))


def make_console(*, no_color: bool, stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr) honouring ``--no-color``/``NO_COLOR``.

    Markup and emoji codes are off: a string that reaches the console (a table cell, a
    title) is shown as it is, so ``[link=…]`` or ``:warning:`` in captured text stays text."""
    from rich.console import Console

    return Console(
        file=sys.stderr if stderr else sys.stdout,
        no_color=color_disabled(no_color),
        highlight=False,
        markup=False,
        emoji=False,
        force_terminal=True if os.environ.get("FORCE_COLOR") else None,
        soft_wrap=False,
    )


def dumps(value: Any, *, indent: int | None = 2) -> str:
    """JSON text as ngrok-inspect prints it: UTF-8 (not escaped), newline-terminated."""
    return json.dumps(value, indent=indent, ensure_ascii=False) + "\n"


def write_json(value: Any) -> None:
    """Write a JSON document to stdout: indented on a terminal, one line when piped."""
    write(dumps(value, indent=2 if is_terminal() else None))


def write(text: str) -> None:
    """Write data to stdout."""
    sys.stdout.write(text)


def write_bytes(data: bytes) -> None:
    """Write bytes to stdout exactly (no newline translation, no encoding)."""
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:
        buffer.write(data)
        buffer.flush()
    else:  # pragma: no cover - a text-only stream
        sys.stdout.write(data.decode("utf-8", "surrogateescape"))


class BinaryToTerminalError(Exception):
    """Bytes that a terminal would obey (control bytes) or garble (not UTF-8)."""


def write_exact(data: bytes, *, what: str) -> None:
    """``--body``/``--raw``: the bytes exactly, except to a terminal when they hold binary
    or control bytes (a terminal would run them as commands), as curl refuses."""
    from ngrok_inspect import escape

    if _stdout_is_tty() and not escape.is_terminal_safe(data):
        raise BinaryToTerminalError(
            f"not writing {what} to the terminal: it holds binary or control bytes"
        )
    write_bytes(data)


def _stdout_is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def notice(text: str) -> None:
    """A message for the human (stderr)."""
    sys.stderr.write(text + "\n")
