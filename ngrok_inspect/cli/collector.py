"""The cyclic garbage collector in the ``ngrok-inspect`` process.

A command allocates in bursts what it keeps to the end: its modules (typer, requests,
ours: ~30,000 tracked objects), then, for a listing, the agent's parsed JSON, the models and the
records. A collection over those frees nothing and still costs a scan of each object
(``requests list --json`` of 1,000 captures spent ~20 ms in the collector, plus the
final collection at exit). So, while :func:`~ngrok_inspect.cli.main` runs a command (in
the script's process until it exits; for a caller of ``main(argv)``, a test, only until
the command returns; :func:`~ngrok_inspect.cli.run` alone leaves the collector as it is):

- collections come every :data:`GC_THRESHOLD` allocations instead of 700, a common
  tuning for allocation-heavy CPython programs that still bounds the cyclic garbage of the
  long-running commands (agent, monitor, follow);
- :func:`settle`: once the command's modules are imported they are frozen
  (:func:`gc.freeze`), left out of every later collection;
- :func:`kept_to_the_end`: while a one-shot command builds what it will hold until it
  exits, no collection runs, and what it built is frozen too;
- when the command is done, what is frozen stays so (and what is left is frozen too):
  the interpreter's final collection at exit would otherwise scan it all once more
  (~40 ms for 300,000 objects here).

Frozen objects are still freed by reference counting; only a cycle among them waits for
the process to end, which changes nothing for modules or for a listing about to be printed.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["GC_THRESHOLD", "kept_to_the_end", "owned", "settle"]

#: Allocations between two young-generation collections (the interpreter's default: 700).
GC_THRESHOLD = 50_000

_owned = False


@contextmanager
def owned(*, process: bool) -> Iterator[None]:
    """The collector policy of this module for the duration of the block (``main()``).

    ``process``: the block is the rest of the process (the script): what is left when it
    ends is frozen too, so that the interpreter's final collection at exit, which scans
    every object still alive, skips it. Otherwise (a caller's process: a test calling
    ``main``) the collector is restored as it was."""
    global _owned
    threshold = gc.get_threshold()
    was_frozen = gc.get_freeze_count() > 0
    gc.set_threshold(GC_THRESHOLD)
    _owned = True
    try:
        yield
    finally:
        _owned = False
        if process:
            gc.freeze()
        elif not was_frozen:
            gc.unfreeze()
        gc.set_threshold(*threshold)


def settle() -> None:
    """Everything allocated so far lives to the end (modules, the command tree): freeze it."""
    if _owned:
        gc.freeze()


@contextmanager
def kept_to_the_end() -> Iterator[None]:
    """No collection while the block builds what the command keeps until it exits (a
    listing and its records); then freeze it. Outside :func:`owned`, nothing changes."""
    if not _owned or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        # resets the young generation's count too: no catch-up collection over it all
        gc.freeze()
        gc.enable()
