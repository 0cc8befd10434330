"""The life of one captured exchange: new entry, response recorded, finished or failed.

Forwarding (``proxy``), API replay (``replay``) and WebSocket handshakes (``websocket``)
all record through :class:`Capture`, so an entry is stored, sized, timed, counted in the
tunnel's metrics and reported to ``on_request`` and the capture listeners (``feed``) the
same way whoever made it. While an exchange is in flight its captured body bytes are
taken from the shared in-flight budget (:class:`~limits.InflightBudget`); :meth:`finish`
and :meth:`release` give them back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ngrok_inspect.local_agent.feed import CaptureFeed
from ngrok_inspect.local_agent.ksuid import request_id
from ngrok_inspect.local_agent.limits import InflightBudget
from ngrok_inspect.local_agent.store import Entry, Message, Store
from ngrok_inspect.local_agent.tunnel import RunningTunnel
from ngrok_inspect.local_agent.wire import error_page, is_chunked, response_head


class Capture:
    """Records entries into the store (for tunnels that inspect) and reports them."""

    def __init__(
        self,
        store: Store,
        *,
        capture_limit: int,
        on_request: Callable[[dict[str, Any]], None] | None = None,
        feed: CaptureFeed | None = None,
        budget: InflightBudget | None = None,
    ) -> None:
        self.store = store
        self.limit = capture_limit
        self.budget = budget
        self.on_request = on_request
        self.feed = feed if feed is not None else CaptureFeed()

    def new_entry(
        self,
        tunnel: RunningTunnel,
        remote: str,
        method: str,
        uri: str,
        proto: str,
        head: bytes,
        chunked: bool,
    ) -> Entry:
        """A pending entry for a request that arrived (stored at once: ``response`` null)."""
        now = time.time()
        msg = Message(head, chunked=chunked)
        msg.budget = self.budget
        entry = Entry(request_id(now), tunnel.name, remote, now, method, uri, proto, msg)
        if tunnel.inspect:
            self.store.add(entry)
        return entry

    def record_response(
        self, entry: Entry, proto: str, status: int, reason: str, raw_headers: Any
    ) -> Message:
        """The response head as it arrived; its body is added to the returned message."""
        msg = Message(
            response_head(proto, status, reason, raw_headers), chunked=is_chunked(raw_headers)
        )
        msg.budget = self.budget
        if entry.response is not None:  # a 502 replacing an answer that broke off
            entry.response.release()
        entry.response = msg
        entry.status_code = status
        entry.status_text = f"{status} {reason}".rstrip()
        return msg

    def record_whole(
        self,
        entry: Entry,
        status: int,
        reason: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> None:
        """A response the agent made itself (an error page, the request bin's answer)."""
        msg = self.record_response(entry, "HTTP/1.1", status, reason, headers)
        msg.add_body(body, self.limit)
        msg.complete = True

    def finish(self, tunnel: RunningTunnel, entry: Entry, t0: int) -> None:
        """The exchange is over (``t0``: its ``monotonic_ns`` start): time, size, report.

        Nothing changes the entry after this: the capture listeners get it from here.
        """
        self.release(entry)
        entry.duration_ns = time.monotonic_ns() - t0
        if tunnel.inspect:
            self.store.finish(entry)
            self.feed.publish(entry)
        tunnel.metrics.request_done(entry.duration_ns)
        if self.on_request is not None:
            self.on_request(entry.summary())

    @staticmethod
    def release(entry: Entry) -> None:
        """Give the entry's in-flight bytes back to the budget (again: a no-op)."""
        entry.request.release()
        if entry.response is not None:
            entry.response.release()

    def fail(
        self,
        tunnel: RunningTunnel,
        entry: Entry,
        t0: int,
        status: int,
        reason: str,
        text: str,
        *,
        failure: str | None = None,
    ) -> tuple[list[tuple[bytes, bytes]], bytes]:
        """Record the agent's error page as the answer and finish; returns that page.

        ``failure`` (``cannot connect (connection refused)``) goes to the console line."""
        entry.failure = failure
        headers, body = error_page(status, reason, text)
        self.record_whole(entry, status, reason, headers, body)
        self.finish(tunnel, entry, t0)
        return headers, body
