"""Live traffic: follow new entries, wait for a condition, monitor rates and error ratios.

Everything here polls the agent's list with a small ``limit`` and works by request id:

* an entry is emitted once, when it is complete (has a response); entries seen while
  pending are emitted when they complete, even after they scrolled out of the page;
* when more entries arrived between two polls than one page holds, the poll widens its
  ``limit`` until it reaches entries it had already seen (catch-up), so nothing is missed;
* a ``clear`` on the agent or an agent restart empties its history: the poller notices
  that the entries it knew are gone, says so with an event, and goes on; an agent that does
  not answer is retried (an event says it is down, another that it is back).

:class:`Poller` is the step-wise engine; :func:`follow` loops over it, :func:`wait_for`
blocks until enough matching entries completed, :class:`Monitor` aggregates per-tunnel
figures per interval and raises :class:`Alert` objects when thresholds are crossed.
"""

from __future__ import annotations

import contextlib
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ngrok_inspect.errors import (
    AgentError,
    AgentUnreachableError,
    ConditionNotMetError,
    ExitCode,
    NgrokInspectError,
    NotFoundError,
)
from ngrok_inspect.filters import RequestFilter, StatusRange, parse_status

if TYPE_CHECKING:
    from ngrok_inspect.client import AgentClient
    from ngrok_inspect.models import CapturedRequest

__all__ = [
    "Alert",
    "FollowEvent",
    "IntervalReport",
    "Monitor",
    "Poller",
    "TriggerError",
    "TunnelFigures",
    "UnexpectedStatusError",
    "WaitTimeoutError",
    "follow",
    "run_alert_hook",
    "run_trigger",
    "wait_for",
]

#: ids (and start times) resolve to the second, and entries of one second come in any
#: order: every poll reaches this far below the newest entry it saw before, so that an
#: entry inserted a little after its start is not taken for an old one. The price: a poll
#: fetches every entry of the last second or two (see docs/benchmarks.md).
SLACK = timedelta(seconds=1)
MAX_LIMIT = 1_000_000


@dataclass(frozen=True)
class FollowEvent:
    """Something :func:`follow` observed.

    ``kind`` is ``"request"`` (``request`` holds a completed entry that matches the
    filter), ``"cleared"`` (the agent's history was cleared or evicted), ``"agent_down"``
    (the agent stopped answering; ``message`` says why), ``"agent_up"`` (it answers again,
    history kept) or ``"restarted"`` (it answers again with its history gone).
    """

    kind: str
    request: CapturedRequest | None = None
    message: str = ""


def _is_down(exc: Exception) -> bool:
    """An error that means "the agent is not (yet) there": retry, do not give up."""
    if isinstance(exc, AgentUnreachableError):
        return True
    # 3.x agents answer 502/503 while their session starts
    return isinstance(exc, AgentError) and exc.status_code in (502, 503)


class Poller:
    """One poll at a time over an agent's request list, deduplicated by id.

    ``include_existing`` also emits what the agent held at the first poll;
    ``pending_existing`` emits entries that were pending at the first poll once they
    complete (the follow mode wants them; ``wait`` does not). When the agent is down at
    the start, what it holds once up counts as new, unless ``baseline_after_down``.
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
    ) -> None:
        self.client = client
        self.baseline_after_down = baseline_after_down
        self.flt = flt or RequestFilter()
        self.page = max(1, page)
        self.include_existing = include_existing
        self.pending_existing = pending_existing
        self.started = False  # a first poll (the baseline) succeeded
        self.down = False
        self.polls = 0
        self._seen: dict[str, datetime] = {}  # ids emitted or known as old -> start
        self._pending: set[str] = set()  # ids seen pending, to emit on completion
        self._floor: datetime | None = None  # entries older than this are not new
        self._newest_id: str | None = None  # newest id of the previous poll

    # -- fetching

    def _fetch(self) -> list[CapturedRequest]:
        """Newest first, widened until it reaches below the floor (or holds everything)."""
        tunnel = self.flt.agent_tunnel_param()
        limit = self.page
        while True:
            reqs = self.client.list_requests(limit=limit, tunnel_name=tunnel)
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
            if not _is_down(exc):
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

    def _baseline(self, reqs: list[CapturedRequest]) -> None:
        for r in reqs:
            if r.pending and self.pending_existing:
                self._pending.add(r.id)
            else:
                self._seen[r.id] = r.start
        self._advance(reqs)

    def _process(self, reqs: list[CapturedRequest]) -> list[FollowEvent]:
        events: list[FollowEvent] = []
        ids = set()
        for r in reversed(reqs):  # oldest first
            ids.add(r.id)
            if r.id in self._seen:
                continue
            if r.id in self._pending:
                if not r.pending:
                    self._pending.discard(r.id)
                    events.extend(self._emit(r))
                continue
            if self._floor is not None and r.start < self._floor:
                continue  # older than what we watch: not new
            if r.pending:
                self._pending.add(r.id)
                continue
            events.extend(self._emit(r))
        # pending entries that scrolled out of the page: ask for them one by one
        for pid in sorted(self._pending - ids):
            try:
                r = self.client.get_request(pid)
            except NotFoundError:
                self._pending.discard(pid)  # cleared or evicted before it completed
                continue
            except NgrokInspectError as exc:
                if not _is_down(exc):
                    raise
                break  # the agent went away meanwhile: ask again at the next poll
            if not r.pending:
                self._pending.discard(pid)
                events.extend(self._emit(r))
        self._advance(reqs)
        return events

    def _emit(self, r: CapturedRequest) -> list[FollowEvent]:
        self._seen[r.id] = r.start
        return [FollowEvent("request", request=r)] if self.flt.matches(r) else []

    def _advance(self, reqs: list[CapturedRequest]) -> None:
        if not reqs:
            self._newest_id = None
            return
        self._newest_id = reqs[0].id
        newest = max(r.start for r in reqs[: min(len(reqs), 50)])
        floor = newest - SLACK
        if self._floor is None or floor > self._floor:
            self._floor = floor
        # forget ids below the floor: they can never come back as new
        if len(self._seen) > 4 * self.page + 1000:
            f = self._floor
            self._seen = {k: v for k, v in self._seen.items() if v >= f}


def _sleep(stop: threading.Event | None, seconds: float) -> bool:
    """Sleep; True when ``stop`` was set meanwhile."""
    if seconds <= 0:
        return stop is not None and stop.is_set()
    if stop is not None:
        return stop.wait(seconds)
    time.sleep(seconds)
    return False


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
) -> Iterator[FollowEvent]:
    """Yield :class:`FollowEvent` as entries complete, until ``stop`` is set or ``timeout``
    seconds passed (forever otherwise).

    ``on_ready`` is called once the starting point is recorded (or the agent was found
    down at the start), before waiting for anything: the place for a trigger.
    """
    poller = Poller(
        client,
        flt,
        page=page,
        include_existing=include_existing,
        pending_existing=pending_existing,
    )
    deadline = None if timeout is None else time.monotonic() + timeout
    first = True
    while True:
        yield from poller.poll()
        if first:
            first = False
            if on_ready is not None:
                on_ready()
                continue  # look right away after the trigger
        if stop is not None and stop.is_set():
            return
        wait = poll_interval
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                # one last look so that an entry that arrived just now is not missed
                yield from poller.poll()
                return
            wait = min(wait, left)
        if _sleep(stop, wait):
            return


# --------------------------------------------------------------------------- wait


class WaitTimeoutError(ConditionNotMetError):
    """``wait`` timed out (exit 6); ``matched`` holds the entries that did match."""

    def __init__(self, message: str, *, matched: list[CapturedRequest], hint: str) -> None:
        super().__init__(message, hint=hint)
        self.matched = matched


class UnexpectedStatusError(ConditionNotMetError):
    """A matching entry came back with a status outside ``--expect-status`` (exit 6)."""

    def __init__(self, request: CapturedRequest, expected: str) -> None:
        super().__init__(
            f"request {request.id} ({request.method} {request.path}) answered "
            f"{request.status_code}, expected {expected}",
            hint="Show it with 'ngrok-inspect requests show " + request.id + "'",
        )
        self.request = request
        self.expected = expected


class TriggerError(NgrokInspectError):
    """The ``--exec`` trigger command failed (exit 1); the wait ends."""

    exit_code = ExitCode.FAILURE


def run_trigger(command: str, *, timeout: float | None = None) -> None:
    """Run ``command`` in the shell, its output on our stderr (stdout carries data only).

    :class:`TriggerError` when it cannot start, exits non-zero or outlives ``timeout``.
    """
    _flush_stderr()
    try:
        proc = subprocess.run(
            command,
            shell=True,
            stdin=subprocess.DEVNULL,
            stdout=_STDERR_FD,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TriggerError(
            f"trigger command did not finish within {timeout:g}s: {_short(command)}",
            hint="The command given to --exec must finish; raise --timeout or background it",
        ) from None
    except OSError as exc:
        raise TriggerError(
            f"cannot run trigger command {_short(command)}: {exc.strerror or exc}",
            hint="Check the command given to --exec",
        ) from None
    if proc.returncode != 0:
        raise TriggerError(
            f"trigger command exited with status {proc.returncode}: {_short(command)}",
            hint="Its output is above; fix it, or drop --exec",
        )


#: the command's output goes to our stderr file descriptor: stdout carries data only
_STDERR_FD = 2


def _flush_stderr() -> None:
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()


def _short(command: str, width: int = 60) -> str:
    try:
        first = shlex.split(command)[0] if command.strip() else command
    except ValueError:
        first = command
    text = command if len(command) <= width else first + " …"
    return repr(text)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _ranges_text(ranges: Iterable[StatusRange]) -> str:
    return ",".join(str(r) for r in ranges)


def wait_for(
    client: AgentClient | str,
    flt: RequestFilter | None = None,
    *,
    count: int = 1,
    timeout: float = 30.0,
    include_existing: bool = False,
    expect_status: str | Iterable[StatusRange] | None = None,
    trigger: Callable[[], None] | str | None = None,
    poll_interval: float = 0.25,
    page: int = 20,
    on_event: Callable[[FollowEvent], None] | None = None,
) -> list[CapturedRequest]:
    """Block until ``count`` completed entries match ``flt``; return them (oldest first).

    Only entries that appear after the call began count, unless ``include_existing``.
    ``trigger`` (a callable, or a shell command) runs once the starting point is recorded
    (so once the agent answers): nothing it causes can be missed, and the timeout counts
    from its end. An agent that is not up yet is retried until the timeout.
    Raises :class:`WaitTimeoutError` (exit 6) on timeout,
    :class:`UnexpectedStatusError` (exit 6) when a match has a status outside
    ``expect_status`` ("2xx", "200,204", …), :class:`TriggerError` when the trigger fails.
    """
    from ngrok_inspect.client import AgentClient

    if count < 1:
        raise ValueError("count must be at least 1")
    own = isinstance(client, str)
    agent = AgentClient(client) if isinstance(client, str) else client
    flt = flt or RequestFilter()
    expected: tuple[StatusRange, ...] | None = None
    if expect_status is not None:
        expected = (
            parse_status(expect_status) if isinstance(expect_status, str) else tuple(expect_status)
        )
    on_ready: Callable[[], None] | None
    if isinstance(trigger, str):
        command = trigger

        def on_ready() -> None:
            run_trigger(command, timeout=timeout)

    else:
        on_ready = trigger
    poller = Poller(
        agent,
        flt,
        page=page,
        include_existing=include_existing,
        pending_existing=False,
        baseline_after_down=on_ready is not None,
    )
    matched: list[CapturedRequest] = []
    last_down: str | None = None

    def handle(events: list[FollowEvent]) -> bool:
        nonlocal last_down
        for ev in events:
            if on_event is not None:
                on_event(ev)
            if ev.kind == "agent_down":
                last_down = ev.message
            elif ev.kind in ("agent_up", "restarted"):
                last_down = None
            elif ev.kind == "request" and ev.request is not None:
                req = ev.request
                if expected is not None and not any(req.status_code in r for r in expected):
                    raise UnexpectedStatusError(req, _ranges_text(expected))
                matched.append(req)
                if len(matched) >= count:
                    return True
        return False

    deadline = time.monotonic() + timeout
    try:
        if handle(poller.poll()):  # the starting point (or everything, with include_existing)
            return matched[:count]
        if on_ready is not None:
            # the trigger runs once the starting point is recorded: the agent must answer
            while not poller.started:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _timeout_error(
                        flt, count, timeout, matched, include_existing, last_down, trigger=True
                    )
                time.sleep(min(poll_interval, left))
                if handle(poller.poll()):
                    return matched[:count]
            on_ready()
            deadline = time.monotonic() + timeout  # counts from the end of the trigger
        while True:
            if handle(poller.poll()):
                return matched[:count]
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(poll_interval, left))
    finally:
        if own:
            agent.close()
    raise _timeout_error(flt, count, timeout, matched, include_existing, last_down)


def _timeout_error(
    flt: RequestFilter,
    count: int,
    timeout: float,
    matched: list[CapturedRequest],
    include_existing: bool,
    last_down: str | None,
    *,
    trigger: bool = False,
) -> WaitTimeoutError:
    what = _plural(count, "request")
    if not flt.is_empty:
        what += f" matching {flt.describe()}"
    scope = "" if include_existing else " (new since the wait began)"
    msg = f"timed out after {timeout:g}s waiting for {what}{scope}: {len(matched)} matched"
    if last_down:
        msg += f"; the agent is not answering ({last_down})"
        if trigger:
            msg += "; the trigger was not run"
        hint = "Start the agent, or point --api-url at it"
    else:
        hint = "Raise --timeout, or check what arrived with 'ngrok-inspect requests list'"
    return WaitTimeoutError(msg, matched=matched, hint=hint)


# --------------------------------------------------------------------------- monitor


@dataclass
class TunnelFigures:
    """One tunnel's figures over one interval."""

    tunnel: str
    requests: int
    errors: int
    rate_per_min: float
    error_rate: float  # 0..1; 0 when there were no requests
    recent_errors: list[CapturedRequest] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (recent errors as small summaries: never headers or bodies)."""
        return {
            "tunnel": self.tunnel,
            "requests": self.requests,
            "errors": self.errors,
            "rate_per_min": round(self.rate_per_min, 3),
            "error_rate": round(self.error_rate, 4),
            "recent_errors": [error_summary(r) for r in self.recent_errors],
        }


def error_summary(r: CapturedRequest) -> dict[str, Any]:
    """id, time, status, method and path of an entry (what an alert may show)."""
    return {
        "id": r.id,
        "start": r.start.isoformat(),
        "status_code": r.status_code,
        "method": r.method,
        "path": r.path,
    }


@dataclass
class Alert:
    """A threshold crossed by one tunnel over one interval."""

    tunnel: str
    metric: str  # "rate" (requests per minute) or "error_rate" (0..1)
    value: float
    threshold: float
    figures: TunnelFigures
    interval_s: float
    time: datetime

    def to_dict(self) -> dict[str, Any]:
        """The alert as JSON (what ``--exec`` gets on stdin and ``--json`` prints)."""
        return {
            "type": "alert",
            "time": self.time.isoformat(),
            "tunnel": self.tunnel,
            "metric": self.metric,
            "value": round(self.value, 4),
            "threshold": self.threshold,
            "interval_s": round(self.interval_s, 3),
            **{k: v for k, v in self.figures.to_dict().items() if k != "tunnel"},
        }


@dataclass
class IntervalReport:
    """What one monitor interval saw: figures per tunnel, the alerts, agent notices."""

    time: datetime
    interval_s: float
    tunnels: list[TunnelFigures]
    alerts: list[Alert]
    notices: list[FollowEvent]

    def to_dicts(self) -> list[dict[str, Any]]:
        """One ``{"type": "interval", …}`` object per tunnel, then the alerts."""
        out: list[dict[str, Any]] = [
            {
                "type": "interval",
                "time": self.time.isoformat(),
                "interval_s": round(self.interval_s, 3),
                **t.to_dict(),
            }
            for t in self.tunnels
        ]
        out.extend(a.to_dict() for a in self.alerts)
        return out


class Monitor:
    """Per-tunnel requests/min and error ratio per interval, counted by request id.

    Call :meth:`collect` as often as you like during an interval (each call polls the
    agent once) and :meth:`close_interval` at its end. :meth:`run` does both on a clock.
    Counting new ids (not list lengths) keeps the figures right across eviction, a
    ``clear`` and an agent restart.
    """

    def __init__(
        self,
        client: AgentClient,
        flt: RequestFilter | None = None,
        *,
        interval: float = 60.0,
        max_rate: float | None = None,
        max_error_rate: float | None = None,
        page: int = 50,
        recent: int = 5,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.client = client
        self.interval = interval
        self.max_rate = max_rate
        self.max_error_rate = max_error_rate
        self.recent = recent
        self.poller = Poller(client, flt, page=page, pending_existing=True)
        self._bucket: dict[str, list[CapturedRequest]] = {}
        self._notices: list[FollowEvent] = []
        self._tunnels: set[str] = set()
        self._tunnel_filter = (flt or RequestFilter()).tunnel

    def collect(self) -> None:
        """Poll once; count the entries that completed since the previous poll."""
        for ev in self.poller.poll():
            if ev.kind == "request" and ev.request is not None:
                self._bucket.setdefault(ev.request.tunnel_name, []).append(ev.request)
            else:
                self._notices.append(ev)

    def _known_tunnels(self) -> set[str]:
        if self._tunnel_filter is not None:
            return {self._tunnel_filter}
        try:
            names = {t.name for t in self.client.tunnels()}
        except NgrokInspectError:
            names = set()
        self._tunnels |= names
        return self._tunnels

    def close_interval(self, elapsed: float | None = None) -> IntervalReport:
        """Figures of the entries collected since the last call; ``elapsed`` is the
        interval's real length in seconds (default: the configured interval)."""
        seconds = self.interval if elapsed is None else elapsed
        minutes = max(seconds, 1e-9) / 60.0
        bucket, self._bucket = self._bucket, {}
        notices, self._notices = self._notices, []
        self._tunnels |= set(bucket)
        names = sorted(self._known_tunnels() | set(bucket))
        figures: list[TunnelFigures] = []
        alerts: list[Alert] = []
        now = datetime.now(timezone.utc)
        for name in names:
            reqs = bucket.get(name, [])
            errors = [r for r in reqs if r.is_error]
            fig = TunnelFigures(
                tunnel=name,
                requests=len(reqs),
                errors=len(errors),
                rate_per_min=len(reqs) / minutes,
                error_rate=(len(errors) / len(reqs)) if reqs else 0.0,
                recent_errors=sorted(errors, key=lambda r: (r.start, r.id))[-self.recent :][::-1]
                if self.recent
                else [],
            )
            figures.append(fig)
            if self.max_rate is not None and fig.rate_per_min > self.max_rate:
                alerts.append(
                    Alert(name, "rate", fig.rate_per_min, self.max_rate, fig, seconds, now)
                )
            if self.max_error_rate is not None and fig.error_rate > self.max_error_rate:
                alerts.append(
                    Alert(
                        name, "error_rate", fig.error_rate, self.max_error_rate, fig, seconds, now
                    )
                )
        return IntervalReport(now, seconds, figures, alerts, notices)

    def run(
        self,
        *,
        stop: threading.Event | None = None,
        poll_interval: float = 1.0,
        intervals: int | None = None,
    ) -> Iterator[IntervalReport]:
        """Yield one report per interval (forever, or ``intervals`` times, or until
        ``stop``). The first poll records the starting point: what the agent already
        holds is not counted."""
        self.collect()
        done = 0
        while intervals is None or done < intervals:
            begin = time.monotonic()
            end = begin + self.interval
            stopped = False
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    break
                if _sleep(stop, min(poll_interval, left)):
                    stopped = True
                    break
                self.collect()
            self.collect()
            yield self.close_interval(time.monotonic() - begin)
            done += 1
            if stopped:
                return


def run_alert_hook(command: str, alert: Alert, *, timeout: float = 60.0) -> str | None:
    """Run ``command`` in the shell with the alert's JSON on stdin (its output goes to our
    stderr). Returns None on success, else a one-line reason; never raises for the
    command's own failure (monitoring goes on)."""
    import json

    _flush_stderr()
    try:
        proc = subprocess.run(
            command,
            shell=True,
            input=json.dumps(alert.to_dict()) + "\n",
            text=True,
            stdout=_STDERR_FD,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"alert command {_short(command)} did not finish within {timeout:g}s"
    except OSError as exc:
        return f"cannot run alert command {_short(command)}: {exc.strerror or exc}"
    if proc.returncode != 0:
        return f"alert command {_short(command)} exited with status {proc.returncode}"
    return None
