"""Abbreviated request ids: the shortest prefix that still names one capture.

Ids of one second share their first 9-10 characters, so like git's abbreviated hashes the
prefix is at least :data:`MIN_PREFIX` characters of the id's body (after ``airt_``) and
longer where two held ids would otherwise share it.
"""

from __future__ import annotations

from collections.abc import Iterable

ID_PREFIX = "airt_"
MIN_PREFIX = 8


def id_body_start(request_id: str) -> int:
    """Where the id's distinctive part begins (after ``airt_``, if present)."""
    return len(ID_PREFIX) if request_id.startswith(ID_PREFIX) else 0


def _common(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def unique_prefix_lengths(ids: Iterable[str], *, minimum: int = MIN_PREFIX) -> dict[str, int]:
    """For each id, how many characters (``airt_`` included) make a prefix no other id
    in ``ids`` shares; at least ``airt_`` plus ``minimum``, at most the whole id.

    ``ids`` should be every id the agent holds, not only the ones shown: a prefix unique
    on one page may be ambiguous across the history (``requests show`` resolves it there).
    """
    ordered = sorted(set(ids))
    out: dict[str, int] = {}
    for i, rid in enumerate(ordered):
        shared = 0
        if i:
            shared = _common(rid, ordered[i - 1])
        if i + 1 < len(ordered):
            shared = max(shared, _common(rid, ordered[i + 1]))
        need = max(shared + 1, id_body_start(rid) + minimum)
        out[rid] = min(need, len(rid))
    return out
