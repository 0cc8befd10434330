"""The capture store: entries in arrival order, bounded in bytes, oldest evicted first.

Entries keep the wire form of each message as a head (start line + header block) and a
body (bytes as they travelled, still compressed; for chunked messages the chunk sizes,
so the chunked framing is rebuilt exactly). The API's JSON of an entry is built from
them when it is first read and, once the exchange is finished, kept: a finished entry
never changes, so it is serialized once, and a listing only joins cached bytes
(``Store.listing`` hands them out in chunks, so the API can yield to the proxy between
them). The store's byte budget reserves room for that JSON from the start, so reading
never takes memory past the budget. The store is used only from the agent's event-loop
thread, so it needs no locks.

Each entry whose exchange is over gets a completion number (``Entry.seq``, 1, 2, … per
store) and joins a deque in completion order: ``completed_after(seq)`` lists what
completed since a client's cursor at the cost of the new entries only (the API's
``ngrok_inspect_after`` extension, docs/local-agent.md).
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import time
from collections import deque
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from ngrok_inspect.local_agent.limits import InflightBudget

# Python object bytes per entry besides its messages (measured: ~650), plus the fixed part
# of its cached JSON (keys, id, uri, times: ~350)
ENTRY_OVERHEAD = 1000
# A listing is handed out in pieces of at most this many entries or about this many bytes:
# a few milliseconds of serialization between two yields to the event loop.
PIECE_ENTRIES = 50
PIECE_BYTES = 256 * 1024
SHORT_LISTING = 1000  # up to this limit the entries to list are picked at once
# a cursor listing looks at this many finished entries at most (about a millisecond on the
# event loop, before its first piece); its cursor then says where it stopped
EXAMINE = 20_000
LISTING_HEAD = b'{"uri":"/api/requests/http","requests":['
LISTING_TAIL = b"]}"
_CANONICAL: dict[bytes, str] = {}  # wire name -> canonical name, for the names seen most
_CANONICAL_MAX = 4096  # a hostile client sending endless new names cannot grow it further


def canonical_header(name: str) -> str:
    """Go's ``CanonicalMIMEHeaderKey``: ``content-type`` -> ``Content-Type``."""
    if not name or any(c in name for c in " \t"):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _canonical(raw: bytes) -> str:
    name = _CANONICAL.get(raw)
    if name is None:
        name = canonical_header(raw.decode("latin-1"))
        if len(_CANONICAL) < _CANONICAL_MAX:
            _CANONICAL[raw] = name
    return name


def header_map(
    raw_headers: Iterable[tuple[bytes, bytes]], *, drop: tuple[str, ...] = ()
) -> dict[str, list[str]]:
    """Canonical name -> values in wire order, keys sorted (as Go's JSON encoder writes them)."""
    out: dict[str, list[str]] = {}
    for k, v in raw_headers:
        name = _canonical(k)
        if name in drop:
            continue
        out.setdefault(name, []).append(v.decode("latin-1"))
    return dict(sorted(out.items()))


def head_fields(head: bytes) -> list[tuple[bytes, bytes]]:
    """The ``(name, value)`` fields of a head built by ``request_head``/``response_head``."""
    out = []
    for line in head.split(b"\r\n")[1:]:
        if not line:
            break
        k, _, v = line.partition(b": ")
        out.append((k, v))
    return out


class Message:
    """One captured HTTP message: head bytes, captured body, chunk framing, headers map."""

    __slots__ = (
        "body",
        "budget",
        "chunk_sizes",
        "complete",
        "cut",
        "head",
        "held",
        "open_chunk",
        "passed",
    )

    def __init__(self, head: bytes, *, chunked: bool = False) -> None:
        self.head = head
        self.body = bytearray()
        self.chunk_sizes: list[int] | None = [] if chunked else None
        self.complete = False  # the whole body passed (even if not all of it was kept)
        self.cut = False  # the capture limit (or the in-flight budget) was reached
        self.open_chunk = False
        self.passed = 0  # body bytes that passed, kept or not
        # while in flight, kept body bytes are taken from the shared in-flight budget
        self.budget: InflightBudget | None = None
        self.held = 0

    def release(self) -> None:
        """The exchange ended: give the bytes taken from the in-flight budget back."""
        if self.budget is not None:
            self.budget.give(self.held)
            self.budget = None
            self.held = 0

    def add_body(self, data: bytes, limit: int, end_of_chunk: bool = True) -> None:
        """Record body bytes as they passed, keeping at most ``limit`` bytes.

        For chunked messages ``end_of_chunk`` says whether ``data`` ends an HTTP chunk;
        chunk sizes are kept as sent, so the framing in ``raw`` is the original one.
        """
        self.passed += len(data)
        if self.cut and not self.open_chunk:
            return
        if self.chunk_sizes is not None:
            if data:
                if self.open_chunk:
                    self.chunk_sizes[-1] += len(data)
                else:
                    self.chunk_sizes.append(len(data))
                self.open_chunk = not end_of_chunk
            elif end_of_chunk:
                self.open_chunk = False
        if not self.cut:
            room = limit - len(self.body)
            if self.budget is not None and data:
                room = self.budget.take(max(0, min(room, len(data))))
                self.held += room
            if len(data) > room:
                self.cut = True
                data = data[: max(room, 0)]
            self.body += data

    @property
    def header_fields(self) -> list[tuple[bytes, bytes]]:
        """The header fields of the head, in wire order (the head was built from them)."""
        return head_fields(self.head)

    @property
    def headers(self) -> dict[str, list[str]]:
        """Canonical name -> values; ``Transfer-Encoding`` left out, as Go's agent does."""
        return header_map(self.header_fields, drop=("Transfer-Encoding",))

    @property
    def size(self) -> int:
        """Bytes this message occupies in the store, its share of the entry's JSON included.

        The JSON holds the message in base64 (4/3 of it) and its headers decoded (about
        the head again).
        """
        wire = len(self.head) + len(self.body)
        return wire + wire * 4 // 3 + len(self.head)

    def raw(self) -> bytes:
        """The message as it was on the wire (as far as it was captured)."""
        if self.chunk_sizes is None:
            return self.head + bytes(self.body)
        parts = [self.head]
        pos = 0
        for n in self.chunk_sizes:
            piece = bytes(self.body[pos : pos + n])
            parts.append(b"%x\r\n" % n)
            parts.append(piece)
            if len(piece) < n:  # cut by the capture limit: the framing shows it
                return b"".join(parts)
            parts.append(b"\r\n")
            pos += n
        if self.complete and not self.cut:
            parts.append(b"0\r\n\r\n")
        return b"".join(parts)


class Entry:
    """One captured exchange (request, and response once the upstream answered)."""

    __slots__ = (
        "done",
        "duration_ns",
        "error",
        "failure",
        "id",
        "json",
        "method",
        "proto",
        "remote_addr",
        "request",
        "response",
        "seq",
        "size",
        "start",
        "status_code",
        "status_text",
        "tunnel_name",
        "uri",
    )

    def __init__(
        self,
        entry_id: str,
        tunnel_name: str,
        remote_addr: str,
        start: float,
        method: str,
        uri: str,
        proto: str,
        request: Message,
    ) -> None:
        self.id = entry_id
        self.tunnel_name = tunnel_name
        self.remote_addr = remote_addr
        self.start = start
        self.duration_ns = 0
        self.method = method
        self.uri = uri
        self.proto = proto
        self.request = request
        self.response: Message | None = None
        self.status_code = 0
        self.status_text = ""
        self.error: str | None = None  # why the exchange did not complete
        # why the agent answered 502/504 itself (console only: the record keeps the
        # real agent's shape, the reason is in the error page it recorded)
        self.failure: str | None = None
        self.size = ENTRY_OVERHEAD + request.size
        self.done = False  # the exchange is over: the entry no longer changes
        self.json: bytes | None = None  # to_json(), kept once done
        self.seq = 0  # its completion number in the store, once done (0: not yet)

    def to_json(self) -> bytes:
        """``to_api()`` as compact UTF-8 JSON; built once for a finished entry."""
        data = self.json
        if data is None:
            data = json.dumps(self.to_api(), separators=(",", ":"), ensure_ascii=False).encode()
            if self.done:
                self.json = data
        return data

    def to_api(self) -> dict[str, Any]:
        """The agent's JSON for this entry (``response`` null while pending)."""
        data: dict[str, Any] = {
            "uri": "/api/requests/http/" + quote(self.id, safe=""),
            "id": self.id,
            "tunnel_name": self.tunnel_name,
            "remote_addr": self.remote_addr,
            "start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(self.start))),
            "duration": self.duration_ns,
            "request": {
                "method": self.method,
                "proto": self.proto,
                "headers": self.request.headers,
                "uri": self.uri,
                "raw": base64.b64encode(self.request.raw()).decode("ascii"),
            },
            "response": None,
        }
        if self.response is not None:
            data["response"] = {
                "status": self.status_text,
                "status_code": self.status_code,
                "proto": self.proto_of_response(),
                "headers": self.response.headers,
                "raw": base64.b64encode(self.response.raw()).decode("ascii"),
            }
        # only then (otherwise the real agent's shape exactly), and once the exchange is
        # over: an entry still in flight reads as pending, not failed
        if self.error is not None and self.done:
            data["error"] = self.error
        return data

    def proto_of_response(self) -> str:
        """The response's protocol, from its status line."""
        assert self.response is not None
        return self.response.head.split(b" ", 1)[0].decode("latin-1")

    def summary(self) -> dict[str, Any]:
        """A small dict for console lines and ``on_request`` callbacks (no headers, no bodies)."""
        return {
            "id": self.id,
            "tunnel_name": self.tunnel_name,
            "remote_addr": self.remote_addr,
            "start": self.start,
            "method": self.method,
            "uri": self.uri,
            "status": self.status_text or None,
            "status_code": self.status_code or None,
            "duration": self.duration_ns,
            "error": self.error,
            "failure": self.failure,
        }


class Store:
    """Captured entries in arrival order, at most ``max_bytes`` in total."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.total = 0
        self._entries: dict[str, Entry] = {}
        # ids oldest first: only the oldest are ever removed (or all), and a deque copies
        # in C where iterating an OrderedDict of 100,000 entries takes tens of ms
        self._order: deque[str] = deque()
        # the agent's run, for the API's cursors: a cursor of another run is refused
        self.instance = secrets.token_hex(8)
        self.clears = 0  # clear() calls so far (a cursor says which it saw)
        self.completed = 0  # completion numbers given so far (the newest one)
        # finished entries in completion order; _done[i].seq == _done_base + i. Trimmed from
        # the left only (evicted entries), so a cursor finds its place by subtraction.
        self._done: deque[Entry] = deque()
        self._done_base = 1

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: Entry) -> None:
        """Insert a new (possibly pending) entry; evict the oldest if over budget."""
        self._entries[entry.id] = entry
        self._order.append(entry.id)
        self.total += entry.size
        self._evict()

    def finish(self, entry: Entry) -> None:
        """The entry's exchange is over: account its final size; it no longer changes."""
        entry.done = True
        new = ENTRY_OVERHEAD + entry.request.size + (entry.response.size if entry.response else 0)
        if entry.id in self._entries:
            self.total += new - entry.size
            if not entry.seq:  # an entry evicted while in flight never completes here
                self.completed += 1
                entry.seq = self.completed
                self._done.append(entry)
        entry.size = new
        self._evict()

    def _evict(self) -> None:
        evicted = False
        while self.total > self.max_bytes and len(self._entries) > 1:
            old = self._entries.pop(self._order.popleft())
            self.total -= old.size
            evicted = True
        if evicted:
            # eviction goes by arrival, completion order differs only by what was in
            # flight together: the stale left end is short
            done, entries = self._done, self._entries
            while done and done[0].id not in entries:
                done.popleft()
                self._done_base += 1

    def get(self, entry_id: str) -> Entry | None:
        """The entry with this id, or None."""
        return self._entries.get(entry_id)

    def newest_first(self, limit: int, tunnel_substring: str | None = None) -> list[Entry]:
        """Up to ``limit`` entries, newest first, whose tunnel name contains the substring."""
        out: list[Entry] = []
        if limit <= 0:
            return out
        for entry_id in reversed(self._order):
            entry = self._entries[entry_id]
            if tunnel_substring and tunnel_substring not in entry.tunnel_name:
                continue
            out.append(entry)
            if len(out) >= limit:
                break
        return out

    def listing(self, limit: int, tunnel_substring: str | None = None) -> Iterator[bytes]:
        """The API's listing (``newest_first``) as JSON, in pieces that join to the document.

        Which entries are listed is decided now (a copy of the ids, made in C: walking
        100,000 entries here would stall the proxy); each piece serializes the
        next ``PIECE_ENTRIES`` (or ``PIECE_BYTES``) of them that the store still holds
        (one evicted or cleared meanwhile is left out), so the caller can yield to the
        event loop between pieces and never holds the whole document. A listing that
        fits in one piece is one piece.
        """
        if limit <= SHORT_LISTING:  # the newest few: found at once, no copy of every id
            ids = [e.id for e in self.newest_first(limit, tunnel_substring)]
            return self._pieces(ids, limit, None)
        return self._pieces(reversed(self._order.copy()), limit, tunnel_substring)

    def _pieces(self, ids: Iterable[str], limit: int, tunnel: str | None) -> Iterator[bytes]:
        sep = LISTING_HEAD  # what goes before the next entry
        parts: list[bytes] = []
        size = listed = 0
        for entry_id in ids:  # newest first
            if listed >= limit:
                break
            entry = self._entries.get(entry_id)
            if entry is None or (tunnel and tunnel not in entry.tunnel_name):
                continue
            data = entry.to_json()
            parts.append(data)
            listed += 1
            size += len(data)
            if size >= PIECE_BYTES or len(parts) >= PIECE_ENTRIES:
                yield sep + b",".join(parts)
                sep, parts, size = b",", [], 0
        if parts or sep is LISTING_HEAD:
            yield sep + b",".join(parts) + LISTING_TAIL
        else:
            yield LISTING_TAIL

    def completed_after(
        self, seq: int, limit: int, tunnel_substring: str | None = None, examine: int = EXAMINE
    ) -> tuple[Iterator[bytes], int, int]:
        """The entries that completed after completion number ``seq``, oldest completion
        first, at most ``limit`` whose tunnel name contains the substring, as the API's
        listing in pieces (see :meth:`listing`); with the completion number to continue
        from (the last one listed, or the newest when all were) and how many completions
        after ``seq`` the store no longer holds (evicted, cleared). Costs the new entries,
        at most ``examine`` of them (then the completion number is the last one looked at).
        """
        if limit <= 0:  # as a negative limit on the agent: an empty list (cursor kept)
            return self._pieces((), 0, None), seq, 0
        done, entries = self._done, self._entries
        start = max(0, seq + 1 - self._done_base)
        gone = max(0, self._done_base - 1 - seq)
        new = len(done) - start
        if new <= 0:
            return self._pieces((), 0, None), max(seq, self.completed), gone
        if new <= examine and new <= len(done) // 2:  # from the right: no walk past the old
            tail = list(itertools.islice(reversed(done), new))
            tail.reverse()
        else:  # the skip runs in C
            tail = list(itertools.islice(done, start, start + examine))
        ids: list[str] = []
        last = self.completed if new <= examine else tail[-1].seq
        for entry in tail:
            if entry.id not in entries:
                gone += 1  # evicted, still in the deque behind one that is not
            elif not tunnel_substring or tunnel_substring in entry.tunnel_name:
                ids.append(entry.id)
                if len(ids) >= limit:
                    last = entry.seq
                    break
        return self._pieces(ids, len(ids), None), last, gone

    @property
    def before_held(self) -> int:
        """The completion number just before the oldest completed entry still held."""
        return self._done_base - 1

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()
        self._order.clear()
        self.total = 0
        self._done.clear()
        self._done_base = self.completed + 1
        self.clears += 1
