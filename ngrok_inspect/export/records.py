"""json, ndjson and raw: the JSON records (``requests list --json``) or the agent's objects.

All keep the agent's order (newest first, like ``requests list --json``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from ngrok_inspect.models import CapturedRequest

__all__ = ["render_json", "render_ndjson", "render_raw"]


def render_json(
    reqs: Iterable[CapturedRequest], *, public_urls: Mapping[str, str] | None = None
) -> str:
    """One indented JSON array of records."""
    return json.dumps([r.to_dict() for r in reqs], indent=2, ensure_ascii=False) + "\n"


def render_ndjson(
    reqs: Iterable[CapturedRequest], *, public_urls: Mapping[str, str] | None = None
) -> str:
    """One record per line."""
    return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in reqs)


def render_raw(
    reqs: Iterable[CapturedRequest], *, public_urls: Mapping[str, str] | None = None
) -> str:
    """The agent's objects as served (redacted ones when redaction ran), as a JSON array."""
    return json.dumps([r.data for r in reqs], indent=2, ensure_ascii=False) + "\n"
