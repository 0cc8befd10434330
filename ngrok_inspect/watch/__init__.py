"""Live traffic: follow new entries, wait for a condition, monitor rates and error ratios.

Everything here polls the agent's list with a small ``limit`` and works by request id.
One module per concern:

* :mod:`~ngrok_inspect.watch.poller`: :class:`Poller` (the step-wise engine: catch-up
  across pages, clear/restart detection, dedupe by id) and :func:`follow`;
* :mod:`~ngrok_inspect.watch.wait`: :func:`wait_for`;
* :mod:`~ngrok_inspect.watch.monitor`: :class:`Monitor` and its reports and alerts;
* :mod:`~ngrok_inspect.watch.hooks`: the ``--exec`` commands (trigger, alert hook);
* :mod:`~ngrok_inspect.watch.clock`: the injectable :class:`Clock` (real or manual).

The names below are the public API (docs/internals.md).
"""

from __future__ import annotations

from ngrok_inspect.watch.clock import SYSTEM_CLOCK, Clock, ManualClock, SystemClock
from ngrok_inspect.watch.hooks import TriggerError, run_alert_hook, run_trigger
from ngrok_inspect.watch.monitor import (
    DEFAULT_MIN_REQUESTS,
    Alert,
    IntervalReport,
    Monitor,
    TunnelFigures,
    error_summary,
)
from ngrok_inspect.watch.poller import (
    BUSY_READ,
    SLACK,
    FollowEvent,
    Poller,
    follow,
    follow_batches,
    is_agent_down,
)
from ngrok_inspect.watch.wait import (
    NearMiss,
    UnexpectedStatusError,
    WaitStoppedError,
    WaitTimeoutError,
    near_misses,
    wait_for,
)

__all__ = [
    "BUSY_READ",
    "DEFAULT_MIN_REQUESTS",
    "SLACK",
    "SYSTEM_CLOCK",
    "Alert",
    "Clock",
    "FollowEvent",
    "IntervalReport",
    "ManualClock",
    "Monitor",
    "NearMiss",
    "Poller",
    "SystemClock",
    "TriggerError",
    "TunnelFigures",
    "UnexpectedStatusError",
    "WaitStoppedError",
    "WaitTimeoutError",
    "error_summary",
    "follow",
    "follow_batches",
    "is_agent_down",
    "near_misses",
    "run_alert_hook",
    "run_trigger",
    "wait_for",
]
