"""Sizes as people write them: ``"10MiB"``, ``"50MB"``, ``"512k"``, ``"1000"`` (bytes)."""

from __future__ import annotations

import re

from ngrok_inspect.errors import UsageError

__all__ = ["parse_size"]

_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(i?)b?\s*$", re.IGNORECASE)


def parse_size(text: str | int, option: str = "size") -> int:
    """``"10MiB"`` -> 10485760, ``"50MB"`` -> 50000000, ``"512k"``, ``"1000"`` (bytes);
    :class:`UsageError` naming ``option`` (``"--max-size"``) on anything else."""
    if isinstance(text, int):
        return text
    m = _SIZE.match(str(text))
    if not m:
        raise UsageError(
            f"invalid {option} {text!r}", hint="Give bytes or a size like 500kB, 10MiB, 50MB"
        )
    number, unit, binary = m.groups()
    power = "kmgt".find(unit.lower()) + 1 if unit else 0
    base = 1024 if binary else 1000
    return int(float(number) * base**power)
