"""Follow mode (``requests list --follow``): print entries as they complete.

``requests list -f`` (cli/cmd_requests.py) calls :func:`run_follow`; this module registers
no command of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ngrok_inspect.render.monitor import notice_line

if TYPE_CHECKING:
    from ngrok_inspect.cli.output import Output
    from ngrok_inspect.client import AgentClient
    from ngrok_inspect.filters import RequestFilter
    from ngrok_inspect.watch import Clock


def run_follow(
    client: AgentClient,
    flt: RequestFilter,
    out: Output,
    *,
    count: int | None,
    timeout: float | None,
    poll_interval: float = 0.5,
    include_existing: bool = False,
    on_ready: Callable[[], None] | None = None,
    clock: Clock | None = None,
) -> None:
    """Write matching entries through ``out`` (NDJSON records, coloured rows on a terminal,
    the piped lines of ``requests list``) as they complete, until ``count`` were written or
    ``timeout`` seconds passed (forever otherwise; Ctrl-C raises KeyboardInterrupt → 130).

    Agent notices (down, back, cleared, restarted) go to stderr and following goes on.
    ``on_ready`` is called once the starting point is recorded; ``clock`` paces the polls
    (tests inject a :class:`~ngrok_inspect.watch.ManualClock`).
    """
    from ngrok_inspect.pipewatch import watch_reader
    from ngrok_inspect.watch import SYSTEM_CLOCK, follow

    printed = 0
    if count is not None and count <= 0:
        return
    # ``-f | head -1``: the reader leaving ends the loop at once (exit 0), not at the next write
    with watch_reader() as reader_gone:
        for event in follow(
            client,
            flt,
            poll_interval=poll_interval,
            timeout=timeout,
            include_existing=include_existing,
            on_ready=on_ready,
            clock=clock or SYSTEM_CLOCK,
            stop=reader_gone,
        ):
            if reader_gone.is_set():
                return
            if event.kind == "request" and event.request is not None:
                out.record(event.request)
                printed += 1
                if count is not None and printed >= count:
                    return
            else:
                out.notice(notice_line(event))
