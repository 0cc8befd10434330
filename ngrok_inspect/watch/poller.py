"""The poller: one poll at a time over an agent's request list, deduplicated by id.

* an entry is emitted once, when it is complete (has a response); entries seen while
  pending are emitted when they complete, even after they scrolled out of the page;
* when more entries arrived between two polls than one page holds, the poll widens its
  ``limit`` until it reaches entries it had already seen (catch-up), so nothing is missed;
* a ``clear`` on the agent or an agent restart empties its history: the poller notices
  that the entries it knew are gone, says so with an event, and goes on; an agent that does
  not answer is retried (an event says it is down, another that it is back).
* the local agent's listing carries a cursor (our extension, docs/local-agent.md): once
  one came, each poll asks for what completed since, oldest first, so every entry is read
  once (no re-reading of the last second, no paging), and a clear, a restart or entries
  evicted before they were read are told by the agent. An agent whose listing carries no
  cursor (any ngrok agent) is polled as described above.

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
    "AFTER_LIMIT",
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
#: entries one cursor fetch asks for; a full answer is followed by the next at once
AFTER_LIMIT = 1000


@dataclass(frozen=True)
class FollowEvent:
    """Something :func:`follow` observed.

    ``kind`` is ``"request"`` (``request`` holds a completed entry that matches the
    filter), ``"cleared"`` (the agent's history was cleared or evicted), ``"agent_down"``
    (the agent stopped answering; ``message`` says why), ``"agent_up"`` (it answers again,
    history kept), ``"restarted"`` (it answers again with its history gone) or, from an
    agent that can tell (the local agent), ``"evicted"`` (``message`` says how many
    completed entries it evicted before they were read); and, from a :class:`Poller` with
    ``report_misses``, ``"missed"`` (``request`` holds a new completed entry that does not
    match the filter).
    """

    kind: str
    request: CapturedRequest | None = None
    message: str = ""


class _NoCursor(Exception):
    """The agent answered a cursor fetch as one without the extension (another agent)."""


class _Restarted(Exception):
    """The agent refused the cursor as one of its previous run; ``cursor`` is a fresh one."""

    def __init__(self, cursor: str) -> None:
        super().__init__(cursor)
        self.cursor = cursor


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
        # the local agent's cursor: once a listing carried one, polls ask for what
        # completed after it (the last fetch's, while the first poll widens)
        self._cursor: str | None = None
        self._listing_cursor: str | None = None

    @property
    def uses_cursor(self) -> bool:
        """The agent offers the local agent's cursor and the poller follows it."""
        return self._cursor is not None

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
            listing = self.client.list_requests_page(limit=limit, tunnel_name=tunnel)
            self._listing_cursor = listing.cursor
            reqs = [self._listed(e) for e in listing.entries]
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
        if self._cursor is not None:
            try:
                return self._poll_after(self._cursor)
            except _NoCursor:
                # another agent answers at this address now, one without the extension
                self._cursor = None
                self._forget_history()
                self._newest_id = None
                self._rate = None
                self.down = False
                gone = FollowEvent("restarted", message="agent restarted; its history is gone")
                return [gone, *self._poll_listing()]
        return self._poll_listing()

    def _poll_listing(self) -> list[FollowEvent]:
        """A poll over the agent's newest-first listing (every agent has it)."""
        self._listing_cursor = None
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
                self._cursor = self._listing_cursor
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
                events.append(FollowEvent("cleared", message="the agent's history was cleared"))
            if lost:
                self._floor = None  # all the agent holds now arrived after the clear
        events.extend(self._process(reqs))
        self._cursor = self._listing_cursor
        return events

    # -- the local agent's cursor

    def _poll_after(self, cursor: str) -> list[FollowEvent]:
        """A poll for what completed after ``cursor`` (the local agent's extension)."""
        events: list[FollowEvent] = []
        while True:
            try:
                entries, new, gone = self._fetch_after(cursor)
                break
            except _Restarted as restarted:
                if events:
                    self.read = 0
                    return events  # restarted once more meanwhile: the next poll goes on
                events.append(
                    FollowEvent("restarted", message="agent restarted; its history is gone")
                )
                self.down = False
                self._forget_history()
                self._cursor = cursor = restarted.cursor
            except NgrokInspectError as exc:
                if not is_agent_down(exc):
                    raise
                self.read = 0  # nothing came: the caller waits its idle interval
                if self.down:
                    return events
                self.down = True
                return [*events, FollowEvent("agent_down", message=exc.message)]
        if self.down:  # the same run of the agent answers again (a restart is refused)
            self.down = False
            events.append(FollowEvent("agent_up", message="agent is answering again"))
        # a cursor is RUN.CLEARS.SEQ: the agent counts its clears
        if new.rsplit(".", 1)[0] != cursor.rsplit(".", 1)[0]:
            events.append(FollowEvent("cleared", message="the agent's history was cleared"))
            self._forget_history()
        elif gone:
            what = "entry was" if gone == 1 else "entries were"
            it = "it was" if gone == 1 else "they were"
            message = f"{gone} completed {what} evicted by the agent before {it} read"
            events.append(FollowEvent("evicted", message=message))
        self._cursor = new
        self.read = len(entries)
        events.extend(self._process_completed(entries))
        return events

    def _fetch_after(self, cursor: str) -> tuple[list[dict[str, Any]], str, int]:
        """What completed after ``cursor``, oldest first, the cursor to go on from and how
        many completions since the agent no longer holds; full answers are followed at once.
        """
        tunnel = self.flt.agent_tunnel_param()
        entries: list[dict[str, Any]] = []
        gone = 0
        while True:
            try:
                listing = self.client.list_requests_page(
                    limit=AFTER_LIMIT, tunnel_name=tunnel, after=cursor
                )
            except NgrokInspectError as exc:
                if entries:  # what came is kept: the next poll meets the failure again
                    return entries, cursor, gone
                if isinstance(exc, AgentError) and exc.status_code == 400:
                    fresh = exc.details.get("cursor")
                    if isinstance(fresh, str) and fresh:
                        raise _Restarted(fresh) from None
                    raise _NoCursor from None  # an agent that refuses the parameter
                raise
            if listing.cursor is None:
                raise _NoCursor
            entries.extend(listing.entries)
            gone += listing.gone
            cursor = listing.cursor
            if len(listing.entries) < AFTER_LIMIT:
                return entries, cursor, gone

    def _forget_history(self) -> None:
        """The agent's history is gone (clear, restart): what it holds now is all new."""
        self._floor = None
        self._pending.clear()

    def _process_completed(self, entries: list[dict[str, Any]]) -> list[FollowEvent]:
        """Entries the agent says completed since the last poll, each listed once."""
        events: list[FollowEvent] = []
        seen, pending, floor = self._seen, self._pending, self._floor
        for data in entries:
            rid = str(data["id"])
            if seen.pop(rid, None) is not None:
                continue  # handled by a listing before (or marked old): it completes once
            model = self._model(data)
            if rid in pending:
                pending.discard(rid)
            elif model.pending:  # a completed entry has an answer or an error: not ours
                continue
            elif floor is not None and model.start < floor:
                continue  # older than what we watch (as in a listing poll): not new
            events.extend(self._emit(model, remember=False))
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

    def _emit(self, r: CapturedRequest, *, remember: bool = True) -> list[FollowEvent]:
        if remember:  # a cursor poll never lists an entry twice: no need to know it
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
    cursor_interval: float | None = None,
) -> Iterator[list[FollowEvent]]:
    """:func:`follow`, one list of events per poll (empty when nothing happened), for a
    caller that handles what one poll brought together (``record`` stores it in one
    transaction).

    ``busy_interval`` (when given) is the time from the start of a poll that read at
    least :data:`BUSY_READ` entries to the start of the next one (the caller's handling of
    the batch included): every poll reads the agent's last second or two again
    (:data:`SLACK`), so against a busy agent polling less often means fewer of the
    entries read are ones already handled (``record`` trades latency for throughput).
    An agent that offers the cursor (the local agent) is never read twice: there
    ``busy_interval`` does not apply and ``cursor_interval`` (when given) is the time
    from the start of a poll that brought something to the start of the next one, so a
    busy agent is followed in small steps (an idle one every ``poll_interval``).

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
        if poller.uses_cursor:
            if cursor_interval is not None and poller.read:
                wait = max(0.0, cursor_interval - (clock.monotonic() - started))
        elif busy_interval is not None and poller.read >= BUSY_READ:
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
