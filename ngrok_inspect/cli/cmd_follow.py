"""Follow mode (``requests list --follow``): print entries as they complete.

``requests list -f`` (cli/cmd_requests.py) calls :func:`run_follow`; this module registers
no command of its own.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from ngrok_inspect.render.monitor import notice_line
from ngrok_inspect.render.output import is_terminal, make_console

if TYPE_CHECKING:
    from rich.console import Console

    from ngrok_inspect.client import AgentClient
    from ngrok_inspect.filters import RequestFilter
    from ngrok_inspect.models import CapturedRequest
    from ngrok_inspect.render.requests import FollowTable
    from ngrok_inspect.watch import Clock


class RequestPrinter:
    """Prints entries to stdout: NDJSON records, coloured rows on a terminal, or plain
    lines when piped; notices go to stderr."""

    def __init__(
        self, *, as_json: bool, no_color: bool, out: TextIO | None = None, header: bool = True
    ) -> None:
        self.out = out or sys.stdout
        self.as_json = as_json
        self.console: Console | None = None
        self._header = header
        self._table: FollowTable | None = None
        if not as_json and self.out is sys.stdout and is_terminal():
            self.console = make_console(no_color=no_color)

    def request(self, req: CapturedRequest) -> None:
        """Print one entry and flush (a reader of the pipe sees it at once)."""
        if self.as_json:
            self.out.write(json.dumps(req.to_dict(), ensure_ascii=False) + "\n")
        elif self.console is not None:
            from ngrok_inspect.render.requests import FollowTable

            if self._table is None:
                # the columns of 'requests list' at this width, planned once
                self._table = FollowTable(width=self.console.width)
                if self._header:
                    self.console.print(self._table.header(), crop=True, no_wrap=True)
            self.console.print(self._table.row(req), crop=True, no_wrap=True)
        else:
            # the same tab-separated line as 'requests list' when piped
            from ngrok_inspect.render.requests import list_plain

            self.out.write(list_plain([req]))
        self.out.flush()

    @staticmethod
    def notice(text: str) -> None:
        """A message for the human (stderr)."""
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def run_follow(
    client: AgentClient,
    flt: RequestFilter,
    *,
    as_json: bool,
    count: int | None,
    timeout: float | None,
    no_color: bool,
    poll_interval: float = 0.5,
    include_existing: bool = False,
    on_ready: Callable[[], None] | None = None,
    clock: Clock | None = None,
) -> None:
    """Print matching entries as they complete until ``count`` were printed or ``timeout``
    seconds passed (forever otherwise; Ctrl-C raises KeyboardInterrupt → exit 130).

    Agent notices (down, back, cleared, restarted) go to stderr and following goes on.
    ``on_ready`` is called once the starting point is recorded; ``clock`` paces the polls
    (tests inject a :class:`~ngrok_inspect.watch.ManualClock`).
    """
    from ngrok_inspect.watch import SYSTEM_CLOCK, follow

    printer = RequestPrinter(as_json=as_json, no_color=no_color)
    printed = 0
    if count is not None and count <= 0:
        return
    for event in follow(
        client,
        flt,
        poll_interval=poll_interval,
        timeout=timeout,
        include_existing=include_existing,
        on_ready=on_ready,
        clock=clock or SYSTEM_CLOCK,
    ):
        if event.kind == "request" and event.request is not None:
            printer.request(event.request)
            printed += 1
            if count is not None and printed >= count:
                return
        else:
            printer.notice(notice_line(event))
