"""How output looks: terminal or pipe, colour or not, the rich console, JSON text.

Nothing here writes: the command line writes through its one seam, ``cli/output.py``.
Only :func:`make_console` imports rich (lazily), so ``--json`` paths never load it.
"""

from __future__ import annotations

import json
import os
import re
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


# JSON never needs these raw: inside a JSON text they can only be in strings, where
# ``\uXXXX`` is the same value (C0 controls json.dumps escapes itself); lone surrogates,
# from bytes that were not UTF-8: ``\udc9b`` is valid JSON, a raw one cannot be encoded.
# A string, compiled by ``re`` when first needed (rarely: see dumps)
_JSON_UNSAFE = "[\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"


def dumps(value: Any, *, indent: int | None = 2) -> str:
    """JSON text as ngrok-inspect writes it: UTF-8 (not escaped), newline-terminated, with
    the characters a terminal would obey (C1, DEL, bidi and zero-width controls) as
    ``\\uXXXX`` escapes: the same JSON value."""
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    if text.isascii():  # O(1) on a str, and the common case: nothing to escape
        return text + "\n"
    return re.sub(_JSON_UNSAFE, lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"
