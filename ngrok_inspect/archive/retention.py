"""How long and how much an archive keeps: ``--retain 7d`` and ``--max-size 500MB``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ngrok_inspect.errors import UsageError

__all__ = ["PRUNE_EVERY", "Prunable", "Pruner", "Retention"]

#: Seconds between prunes while recording (the archive may exceed the limits this long).
PRUNE_EVERY = 60.0


@dataclass(frozen=True)
class Retention:
    """Captures older than ``age`` seconds go; then the oldest until ``max_size`` bytes
    (raw blobs and records) fit. ``retain``/``max_size_text`` are the flags as given."""

    age: float | None = None
    max_size: int | None = None
    retain: str | None = None
    max_size_text: str | None = None

    @classmethod
    def parse(cls, retain: str | None, max_size: str | None) -> Retention:
        """From the flags (``"7d"``, ``"12h30m"``; ``"500MB"``, ``"1GiB"``, bytes);
        :class:`UsageError` (exit 2) for a bad or zero value."""
        from ngrok_inspect.filters import parse_duration
        from ngrok_inspect.sizes import parse_size

        age = size = None
        if retain is not None:
            age = parse_duration(retain, "--retain")
            if age <= 0:
                raise UsageError(
                    "--retain must be longer than 0 (it would delete everything)",
                    hint="e.g. --retain 7d",
                )
        if max_size is not None:
            size = parse_size(max_size, "--max-size")
            if size <= 0:
                raise UsageError("--max-size must be more than 0", hint="e.g. --max-size 500MB")
        return cls(age, size, retain, max_size)

    @property
    def active(self) -> bool:
        return self.age is not None or self.max_size is not None

    def describe(self) -> str:
        parts = []
        if self.retain is not None:
            parts.append(f"--retain {self.retain}")
        if self.max_size_text is not None:
            parts.append(f"--max-size {self.max_size_text}")
        return ", ".join(parts)


class Prunable(Protocol):
    """What a :class:`Pruner` needs of a writer (``ArchiveWriter``, ``BackgroundWriter``)."""

    def prune(self, *, retain: float | None = None, max_size: int | None = None) -> int:
        """Delete what is too old, then the oldest beyond ``max_size``; how many."""
        ...


class Pruner:
    """Applies a :class:`Retention` to a writer: :meth:`prune` now, :meth:`due` at most
    every ``every`` seconds (called after each stored capture)."""

    def __init__(
        self,
        writer: Prunable,
        retention: Retention,
        *,
        every: float = PRUNE_EVERY,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.writer = writer
        self.retention = retention
        self.every = every
        self._monotonic = monotonic
        self._last = monotonic()

    def prune(self) -> int:
        """How many captures were deleted (0 when no limit is set)."""
        self._last = self._monotonic()
        if not self.retention.active:
            return 0
        return self.writer.prune(retain=self.retention.age, max_size=self.retention.max_size)

    def due(self) -> int:
        """:meth:`prune` when ``every`` seconds have passed since the last one, else 0."""
        if self._monotonic() - self._last < self.every:
            return 0
        return self.prune()
