"""Reading an import file entry by entry: a HAR's ``log.entries``, the list of an export,
ndjson lines, or one object, in memory bounded by the largest entry, not by the file.

The bytes are decoded incrementally (UTF-8, a UTF-8 BOM dropped, UTF-16 with a BOM) into a
window of text. The document's skeleton (the outer object, ``log``, the ``entries`` array)
is walked here; every value inside it is decoded by the standard library's JSON decoder at
its offset (``raw_decode``), so numbers, ``NaN``, escapes and the nesting limit mean exactly
what ``json.loads`` says. Text already decoded is dropped from the window as it is read on.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any, BinaryIO

from ngrok_inspect.errors import ExitCode, NgrokInspectError

__all__ = ["CHUNK", "ImportFileError", "Unreadable", "entry_kind", "read_document"]

#: Bytes read at a time (256 KiB); a value larger than the window grows it (doubling).
CHUNK = 1 << 18
_HINT = "Give a HAR file or an 'ngrok-inspect export' json/ndjson/raw file"
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_END = object()


class ImportFileError(NgrokInspectError):
    """The file is not something ``import`` reads: not JSON, not a HAR or an export (exit 2)."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class Unreadable:
    """An ndjson line that is not JSON: kept in its place so it is skipped with a reason."""

    reason: str


def entry_kind(entry: Mapping[str, Any]) -> str | None:
    """Which format one object is written in: ``har``, ``raw`` (an agent object) or ``json``
    (a ``--json`` record); None if it looks like none of them."""
    req = entry.get("request")
    if "startedDateTime" in entry:
        return "har"
    if (isinstance(req, Mapping) and "raw" in req) or "tunnel_name" in entry:
        return "raw"
    if "duration_ms" in entry or "status_code" in entry:
        return "json"
    return None


class _Window:
    """The part of the file being read, as text: ``buf[pos:]`` is what is not read yet."""

    def __init__(self, stream: BinaryIO, name: str, chunk: int) -> None:
        self.stream, self.name, self.chunk = stream, name, chunk
        self.decoder: codecs.IncrementalDecoder | None = None
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.offset = 0  # bytes read so far
        self.lines = 0  # newlines in the text already dropped
        self.column = 0  # characters after the last dropped newline
        self.newline = False  # the last peek() passed a newline

    def read(self, size: int = 0) -> bool:
        """Append the text of ``size`` (at least a chunk) more bytes; False at the end."""
        if self.eof:
            return False
        data = self.stream.read(max(size, self.chunk))
        if self.decoder is None:
            while 0 < len(data) < 4:  # enough to see a BOM, however the stream splits it
                more = self.stream.read(4)
                if not more:
                    break
                data += more
            # UTF-16 with a BOM (some Windows tools); utf-8-sig drops a UTF-8 BOM (Fiddler)
            utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))
            self.decoder = codecs.getincrementaldecoder("utf-16" if utf16 else "utf-8-sig")()
        try:
            text = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as e:
            raise ImportFileError(
                f"{self.name} is not UTF-8 text (byte {self.offset + max(e.start, 0)})",
                hint=_HINT,
            ) from None
        self.offset += len(data)
        self.eof = not data
        self._drop()
        self.buf += text
        return True

    def _drop(self) -> None:
        # forget what was read, keeping the line and column it ended at (for errors)
        if not self.pos:
            return
        gone = self.buf[: self.pos]
        newlines = gone.count("\n")
        if newlines:
            self.lines += newlines
            self.column = len(gone) - gone.rfind("\n") - 1
        else:
            self.column += len(gone)
        self.buf = self.buf[self.pos :]
        self.pos = 0

    def error(self, msg: str, at: int) -> ImportFileError:
        """The file-level error of invalid JSON at ``buf[at]``, with its line and column."""
        head = self.buf[:at]
        newlines = head.count("\n")
        line = self.lines + newlines + 1
        column = at - head.rfind("\n") if newlines else self.column + at + 1
        return ImportFileError(
            f"{self.name} is not JSON (line {line}, column {column}: {msg})", hint=_HINT
        )

    def peek(self) -> str:
        """The next character that is not whitespace ('' at the end of the file)."""
        self.newline = False
        while True:
            end = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            self.newline = self.newline or "\n" in self.buf[self.pos : end]
            self.pos = end
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.read():
                return ""

    def value(self) -> Any:
        """Decode the JSON value that starts at the next non-whitespace character."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                # cut off by the window's edge, not broken: read on (doubling) and retry
                # (10: the longest token, "-Infinity", with room to spare)
                cut = e.msg.startswith("Unterminated string") or e.pos >= len(self.buf) - 10
                if cut and self.read(len(self.buf) - self.pos):
                    continue
                raise self.error(e.msg, e.pos) from None
            except RecursionError:
                raise ImportFileError(
                    f"{self.name} is nested too deeply to be a HAR file or an export",
                    hint=_HINT,
                ) from None
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if number and len(self.buf) - end < 3 and self.read():
                continue  # a number at the window's edge may go on ("1" of "1.5e3")
            self.pos = end
            return value

    def expect(self, char: str, msg: str) -> None:
        if self.peek() != char:
            raise self.error(msg, self.pos)
        self.pos += 1

    def members(self) -> Iterator[str]:
        """The keys of the object that starts here; the caller reads each value."""
        self.expect("{", "Expecting value")
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            if self.peek() != '"':
                raise self.error("Expecting property name enclosed in double quotes", self.pos)
            key = self.value()
            self.expect(":", "Expecting ':' delimiter")
            yield key
            char = self.peek()
            self.pos += 1
            if char == "}":
                return
            if char != ",":
                raise self.error("Expecting ',' delimiter", self.pos - 1)

    def elements(self) -> Iterator[Any]:
        """The values of the array that starts here, decoded one at a time."""
        self.expect("[", "Expecting value")
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            yield self.value()
            char = self.peek()
            self.pos += 1
            if char == "]":
                return
            if char != ",":
                raise self.error("Expecting ',' delimiter", self.pos - 1)

    def lines_after(self) -> Iterator[str]:
        """The rest of the file, one line at a time (ndjson)."""
        while True:
            end = self.buf.find("\n", self.pos)
            while end < 0 and self.read(len(self.buf) - self.pos):
                end = self.buf.find("\n", self.pos)
            if end < 0:
                line, self.pos = self.buf[self.pos :], len(self.buf)
                if line:
                    yield line
                return
            line, self.pos = self.buf[self.pos : end], end + 1
            yield line

    def finish(self) -> None:
        """Refuse anything but whitespace after the document."""
        if self.peek():
            raise self.error("Extra data", self.pos)


def read_document(
    stream: BinaryIO, name: str = "the file", *, chunk: int = CHUNK
) -> tuple[str, Iterator[Any]]:
    """The format (``har``, ``json``, ``ndjson``, ``raw``) of the file ``stream`` reads and
    its entries, read as they are iterated. :class:`ImportFileError` when the file is none
    of them, here or (for what comes later in the file) while iterating. An ndjson line
    that is not JSON is an :class:`Unreadable` in its place. ``chunk``: bytes read at a
    time (tests read with a few bytes to put every value across the window's edge)."""
    window = _Window(stream, name, chunk)
    char = window.peek()
    if not char:
        raise ImportFileError(f"{name} is empty", hint="Give a HAR file or an export")
    if char == "[":
        entries = _list(window)
        first = next(entries, _END)
        kind = entry_kind(first) if isinstance(first, Mapping) else None
        rest: Iterator[Any] = entries if first is _END else chain([first], entries)
        return ("raw" if kind == "raw" else "json"), rest
    if char != "{":
        window.value()  # the decoder's own error for what is not JSON
        raise ImportFileError(
            f"{name} is neither a HAR file nor an ngrok-inspect export",
            hint="HAR has a top-level 'log'; exports are lists of records",
        )
    walk = _object(window)
    fmt = next(walk)
    return fmt, walk


def _list(window: _Window) -> Iterator[Any]:
    yield from window.elements()
    window.finish()


def _object(window: _Window) -> Iterator[Any]:
    """Yields the format first, then the entries: a HAR's log is streamed; any other
    object is one entry, or the first line of an ndjson file."""
    doc: dict[str, Any] = {}
    har = False
    for key in window.members():
        if key == "log" and window.peek() == "{" and not har:
            har = True
            yield "har"
            yield from _log_entries(window)
        else:
            doc[key] = window.value()
    if har:
        window.finish()
        return
    if "log" in doc:  # a log that is not an object
        raise _no_entries(window.name)
    char = window.peek()
    if char and window.newline:  # another value on a later line: ndjson
        yield "ndjson"
        yield doc
        yield from _ndjson(window)
        return
    if char:
        raise window.error("Extra data", window.pos)
    if "request" not in doc:
        raise ImportFileError(
            f"{window.name} is neither a HAR file nor an ngrok-inspect export",
            hint="HAR has a top-level 'log'; exports are lists of records",
        )
    # one object: a bare HAR entry, 'requests show --json' or one agent object
    yield entry_kind(doc) or "har"
    yield doc


def _log_entries(window: _Window) -> Iterator[Any]:
    found = False
    for key in window.members():
        if key == "entries" and window.peek() == "[":
            found = True
            yield from window.elements()
        else:
            window.value()  # pages, creator, browser...: not needed
    if not found:
        raise _no_entries(window.name)


def _no_entries(name: str) -> ImportFileError:
    return ImportFileError(
        f"{name} is a HAR without a log.entries list",
        hint="Export the HAR again from the browser or tool",
    )


def _ndjson(window: _Window) -> Iterator[Any]:
    n = 1
    for line in window.lines_after():
        if not line.strip():
            continue
        n += 1
        try:
            yield json.loads(line)
        except json.JSONDecodeError as e:
            yield Unreadable(f"line {n} is not JSON ({e.msg})")
        except RecursionError:
            yield Unreadable(f"line {n} is nested too deeply")
