"""Where the next request head stands on a kept-alive connection, for the header timeout.

aiohttp parses pipelined requests as their bytes arrive but says nothing of a head it
holds half-parsed; the header clock must still run for it once the request before it is
answered. :class:`HeadTracker` follows the byte stream beside the parser, without
parsing it: a head ends at its first blank line (RFC 9112 §2.2: CR/LF before the
request line are ignored), a body is ``Content-Length`` bytes (the parsed message
gives the length when its handler starts), so it knows at which offset the next message
begins and whether bytes of it are in.

A body framed by chunks cannot be followed without parsing the chunk framing; from such
a request on, the tracker falls back to what can still be told: bytes that came after
the handled request's body was complete, or a stream that does not end with a blank
line after a request without a ``Content-Length`` body.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_NOT_CRLF = re.compile(rb"[^\r\n]")
_BLANK_LINE = b"\r\n\r\n"
# Bytes kept from after a head's end until its handler starts: where the next message
# begins is known only then. Past that, offsets are lost (the fallback applies).
HOLD = 16 * 1024


def _ends_with_blank_line(tail: bytes) -> bool:
    """The stream's last bytes are a head's (or a chunked body's) blank line, perhaps
    followed by stray CR/LF: nothing of a next head is in."""
    stripped = tail.rstrip(b"\r\n")
    return _BLANK_LINE in tail[len(stripped) :]


class HeadTracker:
    """Follows a connection's request stream: are bytes of a head not yet handled in?

    :meth:`feed` sees every byte before the parser does, :meth:`parsed` is told the
    framing of each request when its handler starts, :meth:`waiting` answers when the
    handler is done.
    """

    __slots__ = (
        "begin",
        "body_length",
        "end",
        "exact",
        "held",
        "held_at",
        "late",
        "mark",
        "off",
        "received",
        "tail",
    )

    def __init__(self) -> None:
        self.received = 0  # bytes of the stream so far
        self.tail = b""  # its last bytes (8 at most)
        self.exact = True  # offsets are known (until a chunked body)
        self.mark = 0  # where the next message that no handler has taken begins
        self.begin = -1  # its first byte that is not CR/LF (-1: none in yet)
        self.end = -1  # just past its head's blank line (-1: not in yet)
        # the stream's last bytes (HOLD at most) since that head's end, and their offset
        self.held = b""
        self.held_at = 0
        self.body_length = 0  # the handled request's Content-Length (fallback)
        self.late = False  # (fallback) bytes came after the handled request's body
        self.off = False  # the connection left HTTP/1.1 (an upgrade)

    def feed(self, data: bytes, body_done: Callable[[], bool]) -> None:
        """``data`` arrived (before the parser sees it); ``body_done()``: the handled
        request's body is complete (asked only when offsets are not known)."""
        start = self.received
        self.received = start + len(data)
        if self.off:
            return
        if self.exact:
            if self.end < 0 and self.received > self.mark:
                self._scan(data, start)
                if self.end >= 0:
                    self.held = data[max(self.end - start, len(data) - HOLD) :]
            elif self.end >= 0:
                keep = HOLD - len(data)
                self.held = data[-HOLD:] if keep <= 0 else self.held[-keep:] + data
            self.held_at = self.received - len(self.held)
        elif not self.late and body_done() and _NOT_CRLF.search(data):
            self.late = True
        self.tail = data[-8:] if len(data) >= 8 else (self.tail + data)[-8:]

    def _scan(self, data: bytes, start: int) -> None:
        """Look in ``data`` (at offset ``start``) for the awaited head's start and end."""
        i = max(self.mark - start, 0)
        if self.begin < 0:
            first = data[i : i + 1]
            if not first or first in b"\r\n":  # (rare) empty lines before a request line
                found = _NOT_CRLF.search(data, i)
                if found is None:
                    return
                i = found.start()
            self.begin = start + i
        elif self.begin < start:  # the blank line may have begun in the previous bytes
            keep = min(3, start - self.begin - 1)
            if keep > 0:
                joined = self.tail[-keep:] + data[:3]
                k = joined.find(_BLANK_LINE)
                if k >= 0:
                    self.end = start - keep + k + 4
                    return
        k = data.find(_BLANK_LINE, i)
        if k >= 0:
            self.end = start + k + 4

    def parsed(self, length: int | None, chunked: bool, upgrade: bool) -> None:
        """A request's handler starts: its body is ``length`` bytes, or ``chunked``; an
        ``upgrade`` takes the connection out of HTTP/1.1."""
        if upgrade:
            self.off = True
            self.held = b""
            return
        self.late = False
        self.body_length = 0 if chunked else (length or 0)
        if not self.exact:
            return
        if self.end < 0 or chunked:  # a head this tracker did not see end, or chunks
            self.exact = False
            self.held = b""
            return
        after = self.end + self.body_length
        held, held_at = self.held, self.held_at
        self.mark, self.begin, self.end, self.held = after, -1, -1, b""
        if after < self.received:  # bytes of the next message are already in
            if after < held_at:  # ...but no longer held: offsets are lost
                self.exact = False
                return
            self._scan(held, held_at)
            if self.end >= 0:
                self.held = held[self.end - held_at :]
                self.held_at = self.received - len(self.held)

    def waiting(self) -> bool:
        """The handled request is answered: are bytes of a next request's head in?"""
        if self.off:
            return False
        if self.exact:
            return self.begin >= 0
        if self.late:
            return True
        # without a Content-Length body the request ended with a blank line
        return self.body_length == 0 and not _ends_with_blank_line(self.tail)
