"""A ``requests`` session whose calls keep a deadline for the whole call.

``requests`` (urllib3) timeouts bound each socket operation, not the call: an agent that
trickles its answer one byte a second never trips a 5 s read timeout, and the call runs
for as long as the agent likes. Here every socket of a plain-HTTP connection caps each
read at the time left before the deadline of the call being made (held in a context
variable, so each thread has its own), and counts the bytes it received: once the
deadline passes the next read raises ``TimeoutError`` however the answer was dribbled
(status line, headers or body), and the caller can tell a silent agent from a slow one.

Only ``http://`` connections are wrapped (the agent's API is plain HTTP); through
``https://`` each read keeps ``requests``' per-read timeout.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool

__all__ = ["CallDeadline", "call_deadline", "deadline_session"]


class CallDeadline:
    """The deadline (``time.monotonic()`` seconds) of the call being made, and how many
    bytes of the answer arrived so far. (Not a dataclass: ~1 ms less at every start.)"""

    __slots__ = ("at", "received")

    def __init__(self, at: float, received: int = 0) -> None:
        self.at = at
        self.received = received

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at


_CURRENT: ContextVar[CallDeadline | None] = ContextVar("ngrok_inspect_call_deadline", default=None)


@contextmanager
def call_deadline(seconds: float) -> Iterator[CallDeadline]:
    """Every read on a :func:`deadline_session` connection inside the block ends by
    ``seconds`` from now (``TimeoutError`` after that)."""
    deadline = CallDeadline(time.monotonic() + seconds)
    token = _CURRENT.set(deadline)
    try:
        yield deadline
    finally:
        _CURRENT.reset(token)


class _DeadlineSocket(socket.socket):
    """A connected socket whose reads stop at the current call's deadline."""

    def _cap(self) -> CallDeadline | None:
        deadline = _CURRENT.get()
        if deadline is None:
            return None
        left = deadline.at - time.monotonic()
        if left <= 0:
            raise TimeoutError("the call's deadline passed")
        current = self.gettimeout()
        if current is None or current > left:
            self.settimeout(left)
        return deadline

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        deadline = self._cap()
        n = super().recv_into(buffer, nbytes, flags)
        if deadline is not None:
            deadline.received += n
        return n

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        deadline = self._cap()
        data = super().recv(bufsize, flags)
        if deadline is not None:
            deadline.received += len(data)
        return data


class _DeadlineConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        plain = self.sock
        wrapped = _DeadlineSocket(plain.family, plain.type, plain.proto, fileno=plain.detach())
        wrapped.settimeout(plain.gettimeout())
        self.sock = wrapped


class _DeadlinePool(HTTPConnectionPool):
    ConnectionCls = _DeadlineConnection


class _DeadlineAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        pools = dict(self.poolmanager.pool_classes_by_scheme)
        pools["http"] = _DeadlinePool
        self.poolmanager.pool_classes_by_scheme = pools


def deadline_session() -> requests.Session:
    """A session whose ``http://`` calls obey :func:`call_deadline`."""
    session = requests.Session()
    session.mount("http://", _DeadlineAdapter())
    return session
