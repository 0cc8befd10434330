"""The agent's listeners: the API's aiohttp server options, binding errors, closing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web

from ngrok_inspect.local_agent.limits import GuardedConnection, PublicLimits, guarded
from ngrok_inspect.local_agent.public import PublicServer

# aiohttp's per-request error logs go to this logger; without a handler configured by the
# application they are dropped (a library never prints), so no traceback reaches stderr.
LOG = logging.getLogger("ngrok_inspect.local_agent")
LOG.addHandler(logging.NullHandler())
SERVER_OPTIONS: dict[str, Any] = {
    "auto_decompress": False,  # capture and forward compressed bodies as they are
    "access_log": None,
    "logger": LOG,
    "keepalive_timeout": 75.0,
    "max_line_size": 8190,
    "max_field_size": 8190,
    "lingering_time": 1.0,
}


class GuardedServer(web.Server):
    """aiohttp's low-level server whose connections have the header timeout of
    ``limits`` (the API listener's; its connections are never capped)."""

    def __init__(self, handler: Any, limits: PublicLimits, **kwargs: Any) -> None:
        super().__init__(guarded(handler), **kwargs)
        self._limits = limits
        kwargs.pop("handler_cancellation", None)  # the server's, not the connection's
        self._handler_kwargs = kwargs

    def __call__(self) -> GuardedConnection:
        """A new connection's protocol: aiohttp's, with the limits."""
        return GuardedConnection(
            self, limits=self._limits, loop=asyncio.get_running_loop(), **self._handler_kwargs
        )


async def close_listener(listener: Any, server: web.Server | PublicServer | None) -> None:
    """Stop accepting, let open requests finish briefly, then close."""
    if listener is None:
        return
    listener.close()
    if isinstance(server, web.Server):
        server.pre_shutdown()
    if server is not None:
        await server.shutdown(1.0)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(listener.wait_closed(), 2.0)


def url_host(host: str) -> str:
    """The host as it goes in a URL (IPv6 in brackets; any-address shown as given)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1" if host == "" else host
    return f"[{host}]" if ":" in host else host


def os_reason(exc: OSError | None) -> str:
    """Why a bind failed, in a few words."""
    if exc is None:
        return "unknown error"
    return exc.strerror or str(exc)
