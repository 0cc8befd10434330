"""How captured text is shown: control characters made visible, once, for every view.

Everything ngrok-inspect prints came from strangers (traffic) or from an agent, and a
terminal obeys what it is sent: ESC starts a sequence that can retitle the window, clear
the screen or forge a hyperlink; a raw tab or newline splits a piped record in two. Every
view passes such text through :func:`field` (one-line values: method, path, headers,
tunnel names, form fields, part names, versions, error details) or :func:`body` (body
text, where tab and newline are the text's own layout). Rich markup is the other half of
the rule: the terminal views put this text in ``rich.text.Text`` (never a markup string).

It lives in the core (no rich) because the plain views for pipes and the error messages
need it too.
"""

from __future__ import annotations

import re

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\x1b": "\\e", "\x00": "\\0"}
# C0, DEL, C1, and the Unicode controls that reorder or hide text (bidi overrides and
# isolates, zero-width marks, line/paragraph separators): Trojan Source in a path is a lie too.
# Lone surrogates too: a byte that was not UTF-8 (0x9b, C1 CSI) decoded with surrogateescape
# would go out as that raw byte, or fail to encode at all
_CONTROL = "\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff\ud800-\udfff"
# patterns as strings, compiled (and cached) by ``re`` on first use, not at import: a
# command that prints nothing escaped (``--json``) does not pay for compiling them
_FIELD = f"[{_CONTROL}]"
# in body text a tab, a newline, and a CR right before a newline are layout, not attacks
_BODY = f"(?!\t|\n|\r\n)[{_CONTROL}]"


def _visible(match: re.Match[str]) -> str:
    ch = match.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape of the byte code - 0xDC00: show the byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def field(text: str) -> str:
    """One-line text with every control character shown as an escape (``\\e``, ``\\t``,
    ``\\n``, ``\\x07``, ``\\u202e``): safe for a terminal and for a tab-separated line."""
    if text.isascii() and text.isprintable():  # the common case: nothing to escape
        return text
    return re.sub(_FIELD, _visible, text)


def body(text: str) -> str:
    """Body text with control characters shown as escapes, but tab and newline kept."""
    return re.sub(_BODY, _visible, text)


def is_terminal_safe(data: bytes) -> bool:
    """True when ``data`` is UTF-8 text without control bytes but tab, CR and newline:
    what ``--body``/``--raw`` may write to a terminal as it is."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return re.search(_BODY, text.replace("\r", "")) is None
