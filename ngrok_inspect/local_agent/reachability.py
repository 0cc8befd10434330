"""Whether an upstream answers, and why a connection to it failed, in a few plain words.

``agent`` checks each tunnel's upstream once at start (a TCP connect, no request: a
probe must not cause side effects in the app) so a newcomer who started the agent before
the app, or typed the wrong port, is told at once rather than by the first 502. The same
words explain a 502 on the console and in the error page.
"""

from __future__ import annotations

import errno
import socket
from urllib.parse import urlsplit

__all__ = ["os_reason", "probe_upstream"]

_REASONS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.ECONNABORTED: "connection aborted",
    errno.EPIPE: "connection closed",
    errno.ETIMEDOUT: "timed out",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.EADDRNOTAVAIL: "address not available",
}


def os_reason(exc: BaseException) -> str:
    """``connection refused``, ``connection reset``, ``timed out``, ``DNS lookup failed``…

    asyncio's ``strerror`` (``Connect call failed ('127.0.0.1', 9)``) names no cause, so
    the errno decides; an unknown one falls back on ``strerror``, then the class name.
    """
    if isinstance(exc, socket.gaierror):
        return "DNS lookup failed"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(exc, OSError):
        if exc.errno in _REASONS:
            return _REASONS[exc.errno]
        if exc.strerror:
            return exc.strerror.lower() if exc.strerror[:1].isupper() else exc.strerror
    return type(exc).__name__


def probe_upstream(url: str, timeout: float = 1.0) -> str | None:
    """None when something accepts a TCP connection at ``url``'s host and port, else why not."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return os_reason(exc)
