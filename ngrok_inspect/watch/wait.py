"""``wait``: block until enough matching entries completed, or fail saying what arrived."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from ngrok_inspect import escape
from ngrok_inspect.errors import ConditionNotMetError, ExitCode, NgrokInspectError
from ngrok_inspect.filters import RequestFilter, StatusRange, parse_status
from ngrok_inspect.watch.clock import SYSTEM_CLOCK, Clock
from ngrok_inspect.watch.hooks import run_trigger
from ngrok_inspect.watch.poller import FollowEvent, Poller

if TYPE_CHECKING:
    from ngrok_inspect.client import AgentClient
    from ngrok_inspect.models import CapturedRequest

__all__ = [
    "NearMiss",
    "UnexpectedStatusError",
    "WaitStoppedError",
    "WaitTimeoutError",
    "near_misses",
    "wait_for",
]


#: How many of the requests that arrived but did not match a timeout names.
NEAR_MISSES = 3
#: How many of those a wait remembers (the most recent).
_REMEMBERED = 200


class NearMiss(NamedTuple):
    """A request that arrived during a wait but did not match, and what it missed."""

    request: CapturedRequest
    missed: tuple[str, ...]
    partial: bool  # it matched part of the filter


class WaitTimeoutError(ConditionNotMetError):
    """``wait`` timed out (exit 6); ``matched`` holds the entries that did match and
    ``near_misses`` the most recent of those that arrived but did not (those that matched
    part of the filter, else any), newest first; :attr:`explanation` says it in lines."""

    def __init__(
        self,
        message: str,
        *,
        matched: list[CapturedRequest],
        hint: str,
        near_misses: Sequence[NearMiss] = (),
    ) -> None:
        super().__init__(message, hint=hint)
        self.matched = matched
        self.near_misses = list(near_misses)

    @property
    def explanation(self) -> str:
        """What arrived instead, one request a line with what it missed ('' if nothing):

        ``Arrived but did not match (most recent first; they matched part of the filter):``
        ``  airt_…  POST /webhook 201: req.json.ref was "refs/heads/dev" (wanted …)``
        """
        if not self.near_misses:
            return ""
        partial = all(n.partial for n in self.near_misses)
        lines = [
            "Arrived but did not match (most recent first"
            + ("; they matched part of the filter):" if partial else "):")
        ]
        for miss in self.near_misses:
            r = miss.request
            code = r.status_code
            status = str(code) if code is not None else "failed" if r.failed else "pending"
            what = f"{escape.field(r.method)} {escape.field(r.path)} {status}"
            lines.append(f"  {escape.field(r.id)}  {what}: {'; '.join(miss.missed)}")
        return "\n".join(lines)


class WaitStoppedError(NgrokInspectError):
    """``stop`` was set before the wait was over (exit 130); ``matched`` so far."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, matched: list[CapturedRequest]) -> None:
        super().__init__(f"the wait was stopped: {len(matched)} matched so far")
        self.matched = matched


class UnexpectedStatusError(ConditionNotMetError):
    """A matching entry came back with a status outside ``--expect-status`` (exit 6)."""

    def __init__(self, request: CapturedRequest, expected: str) -> None:
        super().__init__(
            f"request {escape.field(request.id)} "
            f"({escape.field(request.method)} {escape.field(request.path)}) answered "
            f"{request.status_code}, expected {expected}",
            hint="Show it with 'ngrok-inspect requests show " + request.id + "'",
        )
        self.request = request
        self.expected = expected


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
    clock: Clock = SYSTEM_CLOCK,
    stop: threading.Event | None = None,
) -> list[CapturedRequest]:
    """Block until ``count`` completed entries match ``flt``; return them (oldest first).

    Only entries that appear after the call began count, unless ``include_existing``.
    ``trigger`` (a callable, or a shell command) runs once the starting point is recorded
    (so once the agent answers): nothing it causes can be missed, and the timeout counts
    from its end. An agent that is not up yet is retried until the timeout.
    Raises :class:`WaitTimeoutError` (exit 6) on timeout,
    :class:`UnexpectedStatusError` (exit 6) when a match has a status outside
    ``expect_status`` ("2xx", "200,204", …), :class:`TriggerError` when the trigger fails.
    ``clock`` is read for the deadline and slept on between polls (tests inject one).
    ``stop`` set (by another thread) ends the wait at once with :class:`WaitStoppedError`.
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
        report_misses=not flt.is_empty,
        clock=clock,
    )
    matched: list[CapturedRequest] = []
    # what arrived but did not match (the most recent), for the timeout's explanation
    missed: deque[CapturedRequest] = deque(maxlen=_REMEMBERED)
    others = 0
    last_down: str | None = None

    def handle(events: list[FollowEvent]) -> bool:
        nonlocal last_down, others
        for ev in events:
            if ev.kind == "missed":
                if ev.request is not None:
                    missed.append(ev.request)
                    others += 1
                continue
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

    deadline = clock.monotonic() + timeout
    try:
        if handle(poller.poll()):  # the starting point (or everything, with include_existing)
            return matched[:count]
        if on_ready is not None:
            # the trigger runs once the starting point is recorded: the agent must answer
            while not poller.started:
                left = deadline - clock.monotonic()
                if left <= 0:
                    raise _timeout_error(
                        flt,
                        count,
                        timeout,
                        matched,
                        include_existing,
                        last_down,
                        [],
                        0,
                        trigger=True,
                        agent=agent.describe(),
                    )
                if clock.sleep(min(poll_interval, left), stop):
                    raise WaitStoppedError(matched)
                if handle(poller.poll()):
                    return matched[:count]
            on_ready()
            deadline = clock.monotonic() + timeout  # counts from the end of the trigger
        while True:
            if handle(poller.poll()):
                return matched[:count]
            left = deadline - clock.monotonic()
            if left <= 0:
                break
            if clock.sleep(min(poll_interval, left), stop):
                raise WaitStoppedError(matched)
    finally:
        if own:
            agent.close()
    raise _timeout_error(
        flt,
        count,
        timeout,
        matched,
        include_existing,
        last_down,
        missed,
        others,
        agent=agent.describe(),
    )


def _timeout_error(
    flt: RequestFilter,
    count: int,
    timeout: float,
    matched: list[CapturedRequest],
    include_existing: bool,
    last_down: str | None,
    missed: Iterable[CapturedRequest],
    others: int,
    *,
    trigger: bool = False,
    agent: str,
) -> WaitTimeoutError:
    what = _plural(count, "request")
    if not flt.is_empty:
        what += f" matching {flt.describe()}"
    scope = "" if include_existing else " (new since the wait began)"
    # the agent watched, and why that one: another agent on 4040 is a classic CI trap
    msg = f"timed out after {timeout:g}s waiting for {what}{scope} at {agent}: "
    msg += f"{len(matched)} matched"
    if others:
        msg += f", {_plural(others, 'other')} arrived"
    if last_down:
        msg += f"; the agent is not answering ({last_down})"
        if trigger:
            msg += "; the trigger was not run"
        hint = "Start the agent, or point --api-url at it"
    else:
        hint = "Raise --timeout, or check what arrived with 'ngrok-inspect requests list'"
    return WaitTimeoutError(msg, matched=matched, hint=hint, near_misses=near_misses(flt, missed))


def near_misses(
    flt: RequestFilter, arrived: Iterable[CapturedRequest], *, limit: int = NEAR_MISSES
) -> list[NearMiss]:
    """The most recent of ``arrived`` (oldest first, as a wait sees them) that do not match
    ``flt``, newest first, with what each missed (:meth:`RequestFilter.explain`): those
    that matched part of the filter, or when none did, the most recent of the others."""
    misses = []
    for req in reversed(list(arrived)):
        check = flt.explain(req)
        if not check.matched:
            misses.append(NearMiss(req, check.missed, check.partial))
    partial = [m for m in misses if m.partial]
    return (partial or misses)[:limit]
