"""User-space instructions per proxied request, counted by valgrind (callgrind).

A load-insensitive measure of the agent's per-request cost, for comparing two checkouts
on a busy machine where requests/s move with whatever else runs: each venv's
``ngrok-inspect agent`` runs under ``valgrind --tool=callgrind`` twice, once for
``--base`` requests and once for ``--base + --requests``, and the difference of the two
instruction totals divided by ``--requests`` is the cost of one request (start-up and
shut-down cancel out). System-call time is not counted; on this machine the agent's time
is about 85 % user space (``/proc`` utime vs stime), so the figure tracks its CPU cost.
Expect a few per cent between runs of the same code (how many events the loop handles
per wake-up depends on timing).

Usage::

    .venv/bin/python bench/bench_proxy_cost.py                     # this checkout
    .venv/bin/python bench/bench_proxy_cost.py --venv /tmp/old/.venv --venv .venv
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_proxy as bp  # the upstream, the load generator and the helpers


def instructions(venv: Path, up_port: int, requests: int, out_dir: Path) -> int:
    """Instructions valgrind counted in one agent run that proxied ``requests``."""
    port = bp.free_port()
    out = out_dir / f"callgrind.{requests}.out"
    proc = subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            str(venv / "bin" / "python"),
            str(venv / "bin" / "ngrok-inspect"),
            "agent",
            f"127.0.0.1:{up_port}",
            "--listen",
            f"127.0.0.1:{port}",
            "--web-addr",
            "127.0.0.1:0",
            "--quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    bp.wait_port(port, timeout=300)  # start-up under valgrind takes a while
    if requests:
        bp.load(port, 8, 0, total=requests)
    proc.terminate()
    _, err = proc.communicate(timeout=300)
    found = re.search(rb"Collected : (\d+)", err)
    if found is None:
        raise RuntimeError(f"valgrind reported no total:\n{err.decode(errors='replace')}")
    return int(found.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", action="append", type=Path, help="a venv with ngrok-inspect")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--base", type=int, default=200)
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed")
    venvs = args.venv or [Path(sys.executable).parent.parent]
    up, up_port = bp.start_upstream(bp.UPSTREAM_CODE)
    try:
        first = None
        for venv in venvs:
            with tempfile.TemporaryDirectory() as tmp:
                low = instructions(venv, up_port, args.base, Path(tmp))
                high = instructions(venv, up_port, args.base + args.requests, Path(tmp))
            per = (high - low) / args.requests
            first = first or per
            print(f"{venv}: {per:,.0f} instructions per request ({per / first:.2f}x the first)")
    finally:
        bp.stop(up)


if __name__ == "__main__":
    main()
