"""The poller: one poll at a time over an agent's request list, deduplicated by id.

* an entry is emitted once, when it is complete (has a response); entries seen while
  pending are emitted when they complete, even after they scrolled out of the page;
* when more entries arrived between two polls than one page holds, the poll widens its
  ``limit`` until it reaches entries it had already seen (catch-up), so nothing is missed;
* a ``clear`` on the agent or an agent restart empties its history: the poller notices
  that the entries it knew are gone, says so with an event, and goes on; an agent that does
  not answer is retried (an event says it is down, another that it is back).

:class:`Poller` is the step-wise engine (the public API that ``follow``, ``wait``,
``monitor`` and ``record`` build on; see docs/internals.md); :func:`follow` loops over it
on an injectable :class:`~ngrok_inspect.watch.clock.Clock`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ngrok_inspect.errors import (
    AgentError,
    AgentUnreachableError,
    InvalidResponseError,
    NgrokInspectError,
    NotFoundError,
)
from ngrok_inspect.filters import RequestFilter
from ngrok_inspect.models import CapturedRequest, parse_rfc3339
from ngrok_inspect.watch.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from ngrok_inspect.client import AgentClient

__all__ = [
    "BUSY_READ",
    "MAX_LIMIT",
    "SLACK",
    "FollowEvent",
    "Poller",
    "follow",
    "follow_batches",
    "is_agent_down",
]

#: entry inserted a little after its start is not taken for an old one. The price: a poll
#: fetches every entry of the last second or two (see docs/benchmarks.md).
SLACK = timedelta(seconds=1)
MAX_LIMIT = 1_000_000
#: a poll that read at least this many entries found a busy agent (``busy_interval``)
BUSY_READ = 1000


@dataclass(frozen=True)
class FollowEvent:
    """Something :func:`follow` observed.

    ``kind`` is ``"request"`` (``request`` holds a completed entry that matches the
    filter), ``"cleared"`` (the agent's history was cleared or evicted), ``"agent_down"``
    (the agent stopped answering; ``message`` says why), ``"agent_up"`` (it answers again,
    history kept) or ``"restarted"`` (it answers again with its history gone); and, from a
    :class:`Poller` with ``report_misses``, ``"missed"`` (``request`` holds a new completed
    entry that does not match the filter).
    """

    kind: str
    request: CapturedRequest | None = None
    message: str = ""


def is_agent_down(exc: Exception) -> bool:
    """An error that means "the agent is not (yet) there": retry, do not give up."""
    if isinstance(exc, AgentUnreachableError):
        return True
    # 3.x agents answer 502/503 while their session starts
    return isinstance(exc, AgentError) and exc.status_code in (502, 503)


class _Listed:
    """One entry of a listing as the poller needs it: id and start read from the agent's
    JSON, the model built only when the entry is new to the poller (at full load most of
    a listing is the last second again, already handled: see :data:`SLACK`)."""

    __slots__ = ("data", "id", "start")

    def __init__(self, data: dict[str, Any], start: datetime) -> None:
        self.data = data
        self.id = str(data["id"])
        self.start = start


class Poller:
    """One poll at a time over an agent's request list, deduplicated by id.

    ``include_existing`` also emits what the agent held at the first poll;
    ``pending_existing`` emits entries that were pending at the first poll once they
    complete (the follow mode wants them; ``wait`` does not). When the agent is down at
    the start, what it holds once up counts as new, unless ``baseline_after_down``.
    ``report_misses`` also emits each new completed entry that does not match the filter,
    as a ``"missed"`` event (``wait`` says what arrived when it times out).
    """

    def __init__(
        self,
        client: AgentClient,
        flt: RequestFilter | None = None,
        *,
        page: int = 20,
        include_existing: bool = False,
        pending_existing: bool = True,
        baseline_after_down: bool = False,
        report_misses: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.client = client
        self.clock = clock
        self.report_misses = report_misses
        self.baseline_after_down = baseline_after_down
        self.flt = flt or RequestFilter()
        self.page = max(1, page)
        self.include_existing = include_existing
        self.pending_existing = pending_existing
        self.started = False  # a first poll (the baseline) succeeded
        self.down = False
        self.polls = 0
        self.read = 0  # entries the last poll read from the agent
        self.models = 0  # entries turned into models, in all (the rest were known by id)
        self._seen: dict[str, datetime] = {}  # ids emitted or known as old -> start
        self._pending: set[str] = set()  # ids seen pending, to emit on completion
        self._floor: datetime | None = None  # entries older than this are not new
        self._newest_id: str | None = None  # newest id of the previous poll
        # the limit to start the next fetch with: what the agent holds since the floor and
        # what arrived since, so a busy agent is not asked for page, 4x page, 16x page...
        # again at every poll (each widening reads everything again from the top)
        self._hint = self.page
        self._above = 0  # entries at or above the floor at the last poll
        self._rate: float | None = None  # new entries a second, between the last two polls
        self._fetched_at: float | None = None  # clock.monotonic() of the last fetch
        self._fetch_started = 0.0
        # parsed 'start' texts: entries of one second share one, and a busy agent's
        # listing holds thousands of entries of the same few seconds
        self._starts: dict[str, datetime] = {}

    # -- reading the agent's entries

    def _listed(self, data: dict[str, Any]) -> _Listed:
        text = data.get("start")
        if type(text) is not str:
            return _Listed(data, self._model(data).start)  # raises with the model's reason
        start = self._starts.get(text)
        if start is None:
            try:
                start = parse_rfc3339(text)
            except ValueError:
                start = self._model(data).start  # raises with the model's reason
            if len(self._starts) >= 4096:
                self._starts.clear()
            self._starts[text] = start
        return _Listed(data, start)

    def _model(self, data: dict[str, Any]) -> CapturedRequest:
        """The entry as a model; a malformed one is the agent's unreadable answer."""
        self.models += 1
        try:
            return CapturedRequest.from_api(data)
        except ValueError as e:
            exc = InvalidResponseError(self.client.base_url + "/api/requests/http", str(e))
            self.client.name_agent_in(exc)
            raise exc from None

    def _fetch(self) -> list[_Listed]:
        """Newest first, widened until it reaches below the floor (or holds everything)."""
        tunnel = self.flt.agent_tunnel_param()
        self._fetch_started = now = self.clock.monotonic()
        limit = max(self.page, self._hint)
        if self._rate is not None and self._fetched_at is not None:
            arrived = self._rate * max(0.0, now - self._fetched_at)
            limit = max(self.page, min(self._above + int(1.25 * arrived) + self.page, MAX_LIMIT))
        while True:
            reqs = [
                self._listed(e)
                for e in self.client.list_requests_raw(limit=limit, tunnel_name=tunnel)
            ]
            if len(reqs) < limit or limit >= MAX_LIMIT:
                return reqs
            # reached old territory: everything at or above the floor is here, unless the
            # agent lost our newest entry (a clear): then fetch all to be sure.
            if (
                self._floor is not None
                and reqs[-1].start < self._floor
                and (self._newest_id is None or any(r.id == self._newest_id for r in reqs))
            ):
                return reqs
            if (
                self._floor is None
                and not (self.started or self.down or self.include_existing)
                and reqs[-1].start < max(r.start for r in reqs[:50]) - SLACK
            ):
                return reqs  # baseline: the newest entries down to below its own floor
            limit = min(limit * 4, MAX_LIMIT)

    # -- one step

    def poll(self) -> list[FollowEvent]:
        """Ask the agent once; return what happened since the previous call (may be [])."""
        self.polls += 1
        try:
            reqs = self._fetch()
        except NgrokInspectError as exc:
            if not is_agent_down(exc):
                raise
            if self.down:
                return []
            self.down = True
            return [FollowEvent("agent_down", message=exc.message)]
        events: list[FollowEvent] = []
        was_down, self.down = self.down, False
        if not self.started:
            self.started = True
            if was_down:
                events.append(FollowEvent("agent_up", message="agent is up"))
            # an agent that was not there when we began holds only new entries, unless
            # the caller needs a starting point anyway (a trigger runs after it)
            if not self.include_existing and (not was_down or self.baseline_after_down):
                self._baseline(reqs)
                return events
        else:
            lost = self._newest_id is not None and not any(r.id == self._newest_id for r in reqs)
            if was_down:
                if lost:
                    events.append(
                        FollowEvent("restarted", message="agent restarted; its history is gone")
                    )
                else:
                    events.append(FollowEvent("agent_up", message="agent is answering again"))
            elif lost:
                events.append(
                    FollowEvent("cleared", message="the agent's history was cleared (or evicted)")
                )
            if lost:
                self._floor = None  # all the agent holds now arrived after the clear
        events.extend(self._process(reqs))
        return events

    def _baseline(self, reqs: list[_Listed]) -> None:
        for r in reqs:
            if self.pending_existing and self._model(r.data).pending:
                self._pending.add(r.id)
            else:
                self._seen[r.id] = r.start
        self._advance(reqs)

    def _process(self, reqs: list[_Listed]) -> list[FollowEvent]:
        events: list[FollowEvent] = []
        ids = set()
        fresh = 0  # arrived since the last poll
        for r in reversed(reqs):  # oldest first
            ids.add(r.id)
            if r.id in self._seen:
                continue  # the common case at full load: no model for it
            if r.id in self._pending:
                model = self._model(r.data)
                if not model.pending:
                    self._pending.discard(r.id)
                    events.extend(self._emit(model))
                continue
            if self._floor is not None and r.start < self._floor:
                continue  # older than what we watch: not new
            fresh += 1
            model = self._model(r.data)
            if model.pending:
                self._pending.add(r.id)
                continue
            events.extend(self._emit(model))
        # pending entries that scrolled out of the page: ask for them one by one
        for pid in sorted(self._pending - ids):
            try:
                one = self.client.get_request(pid)
            except NotFoundError:
                self._pending.discard(pid)  # cleared or evicted before it completed
                continue
            except NgrokInspectError as exc:
                if not is_agent_down(exc):
                    raise
                break  # the agent went away meanwhile: ask again at the next poll
            if not one.pending:
                self._pending.discard(pid)
                events.extend(self._emit(one))
        if self._fetched_at is not None and self._fetch_started > self._fetched_at:
            self._rate = fresh / (self._fetch_started - self._fetched_at)
        self._advance(reqs)
        return events

    def _emit(self, r: CapturedRequest) -> list[FollowEvent]:
        self._seen[r.id] = r.start
        if self.flt.matches(r):
            return [FollowEvent("request", request=r)]
        return [FollowEvent("missed", request=r)] if self.report_misses else []

    def _advance(self, reqs: list[_Listed]) -> None:
        self.read = len(reqs)
        self._fetched_at = self._fetch_started
        if not reqs:
            self._newest_id = None
            self._above = 0
            return
        self._newest_id = reqs[0].id
        newest = max(r.start for r in reqs[: min(len(reqs), 50)])
        floor = newest - SLACK
        if self._floor is None or floor > self._floor:
            self._floor = floor
        above = sum(1 for r in reqs if r.start >= self._floor)
        self._above = above
        self._hint = min(2 * above, MAX_LIMIT)  # until a rate is known: as many new again
        # forget ids below the floor: they can never come back as new
        if len(self._seen) > 4 * self.page + 1000:
            f = self._floor
            self._seen = {k: v for k, v in self._seen.items() if v >= f}


def follow(
    client: AgentClient,
    flt: RequestFilter | None = None,
    *,
    poll_interval: float = 0.5,
    page: int = 20,
    stop: threading.Event | None = None,
    timeout: float | None = None,
    include_existing: bool = False,
    pending_existing: bool = True,
    on_ready: Callable[[], None] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Iterator[FollowEvent]:
    """Yield :class:`FollowEvent` as entries complete, until ``stop`` is set or ``timeout``
    seconds passed (forever otherwise).

    ``on_ready`` is called once the starting point is recorded (or the agent was found
    down at the start), before waiting for anything: the place for a trigger.
    ``clock`` is read for the deadline and slept on between polls (tests inject one).
    """
    for events in follow_batches(
        client,
        flt,
        poll_interval=poll_interval,
        page=page,
        stop=stop,
        timeout=timeout,
        include_existing=include_existing,
        pending_existing=pending_existing,
        on_ready=on_ready,
        clock=clock,
    ):
        yield from events


def follow_batches(
    client: AgentClient,
    flt: RequestFilter | None = None,
    *,
    poll_interval: float = 0.5,
    page: int = 20,
    stop: threading.Event | None = None,
    timeout: float | None = None,
    include_existing: bool = False,
    pending_existing: bool = True,
    on_ready: Callable[[], None] | None = None,
    clock: Clock = SYSTEM_CLOCK,
    busy_interval: float | None = None,
) -> Iterator[list[FollowEvent]]:
    """:func:`follow`, one list of events per poll (empty when nothing happened), for a
    caller that handles what one poll brought together (``record`` stores it in one
    transaction).

    ``busy_interval`` (when given) is the time from the start of a poll that read at
    least :data:`BUSY_READ` entries to the start of the next one (the caller's handling of
    the batch included): every poll reads the agent's last second or two again
    (:data:`SLACK`), so against a busy agent polling less often means fewer of the
    entries read are ones already handled (``record`` trades latency for throughput).

    ``on_ready`` is called once the starting point is recorded (or the agent was found
    down at the start), before waiting for anything: the place for a trigger.
    ``clock`` is read for the deadline and slept on between polls (tests inject one).
    """
    poller = Poller(
        client,
        flt,
        page=page,
        include_existing=include_existing,
        pending_existing=pending_existing,
        clock=clock,
    )
    deadline = None if timeout is None else clock.monotonic() + timeout
    first = True
    while True:
        started = clock.monotonic()
        yield poller.poll()
        if first:
            first = False
            if on_ready is not None:
                on_ready()
                continue  # look right away after the trigger
        if stop is not None and stop.is_set():
            return
        wait = poll_interval
        if busy_interval is not None and poller.read >= BUSY_READ:
            wait = max(0.0, busy_interval - (clock.monotonic() - started))
        if deadline is not None:
            left = deadline - clock.monotonic()
            if left <= 0:
                # one last look so that an entry that arrived just now is not missed
                yield poller.poll()
                return
            wait = min(wait, left)
        if clock.sleep(wait, stop):
            return
