"""A scripted upstream on raw sockets that records every request it reads.

It frames requests by ``Content-Length`` only (as a plain HTTP/1.1 server would), so a
test sees exactly the message boundaries the agent put on the wire. ``answer(i)`` gives
the bytes for the ``i``-th request on any connection (``None``: close without answering;
``Cut(data)``: send ``data``, then close - an answer that breaks off).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cut:
    """An answer sent, after which the upstream closes the connection."""

    data: bytes


@dataclass
class Seen:
    """One request as the upstream read it."""

    connection: int
    head: bytes
    body: bytes

    @property
    def request_line(self) -> bytes:
        return self.head.split(b"\r\n", 1)[0]

    def header(self, name: bytes) -> list[bytes]:
        out = []
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower():
                out.append(value.strip())
        return out


@dataclass
class RecordingUpstream:
    answer: Callable[[int, Seen], bytes | Cut | None]
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                number = self.connections
            threading.Thread(target=self._one, args=(conn, number), daemon=True).start()

    def _one(self, conn: socket.socket, number: int) -> None:
        try:
            self._exchange(conn, number)
        except ConnectionError:  # the agent dropped this connection (its client left)
            conn.close()

    def _exchange(self, conn: socket.socket, number: int) -> None:
        buf = b""
        index = 0
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, buf = buf.split(b"\r\n\r\n", 1)
                seen = Seen(number, head, b"")
                lengths = seen.header(b"content-length")
                length = int(lengths[0]) if lengths else 0
                while len(buf) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                seen.body, buf = buf[:length], buf[length:]
                with self.lock:
                    self.seen.append(seen)
                reply = self.answer(index, seen)
                index += 1
                if reply is None:
                    return
                if isinstance(reply, Cut):
                    conn.sendall(reply.data)
                    return
                conn.sendall(reply)

    def close(self) -> None:
        self.sock.close()


def ok(body: bytes) -> bytes:
    """A keep-alive 200 with ``body``."""
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
