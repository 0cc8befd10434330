"""The view of ``ngrok-inspect verify``: one aligned line per checked request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ngrok_inspect import escape
from ngrok_inspect.render.text import time_text

if TYPE_CHECKING:
    from ngrok_inspect.webhooks.checking import Checked


def verify_plain(checked: list[Checked]) -> str:
    """The verify table as aligned text (terminal and pipe): id, time, method, path,
    provider, result, age, reason."""
    rows = [("ID", "TIME", "METHOD", "PATH", "PROVIDER", "RESULT", "AGE", "REASON")]
    for c in checked:
        r = c.result
        rows.append(
            (
                escape.field(c.request.id),
                time_text(c.request.start),
                escape.field(c.request.method),
                escape.field(c.request.path),
                r.provider or "-",
                r.status,
                "-" if r.age_s is None else f"{r.age_s:.0f}s",
                escape.field(r.reason or ""),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"
