"""A raw-socket client's helpers for tests that speak to the agent byte by byte."""

from __future__ import annotations

import socket


def read_until_closed(s: socket.socket) -> bytes:
    """Everything the agent sends until it closes the connection (a reset counts as the
    close; the socket's own timeout bounds the wait)."""
    out = b""
    while True:
        try:
            data = s.recv(65536)
        except ConnectionResetError:
            return out
        if not data:
            return out
        out += data
