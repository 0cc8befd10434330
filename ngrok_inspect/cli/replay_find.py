"""Finding the capture a replay produced: poll the agent's newest entries for it.

Shared by ``replay`` (an API replay) and the edited path (sent to a real ngrok agent's
public URL), kept apart from both so neither imports the other.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ngrok_inspect.errors import ConditionNotMetError

if TYPE_CHECKING:
    from ngrok_inspect.client import AgentClient
    from ngrok_inspect.models import CapturedRequest

POLL_INTERVAL = 0.1
SCAN = 50


def find_replay(
    client: AgentClient,
    original: CapturedRequest,
    known: set[str],
    timeout: float,
    *,
    method: str | None = None,
    uri: str | None = None,
) -> CapturedRequest:
    """The new, completed entry a replay of ``original`` (sent as ``method`` ``uri`` when
    edited) produced (polls the newest entries); :class:`ConditionNotMetError` when none
    appears within ``timeout``."""
    deadline = time.monotonic() + timeout
    want_method = method or original.method
    want_uri = uri or original.request.uri
    while True:
        for req in client.list_requests(limit=SCAN):
            same = req.method == want_method and req.request.uri == want_uri
            if req.id not in known and same and not req.pending:
                return req
        if time.monotonic() >= deadline:
            raise ConditionNotMetError(
                f"the agent accepted the replay of {original.id} but no new entry "
                f"appeared within {timeout:g}s",
                hint="Is the upstream slow? Raise --timeout, or use --no-wait",
            )
        time.sleep(POLL_INTERVAL)
