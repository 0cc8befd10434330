"""CLI speed: ``requests list --json`` and ``--version`` against floors, in one run.

Starts a LocalAgent in front of a stdlib upstream on 127.0.0.1, sends 1,000 requests
through it (a mix of GET/POST with small JSON bodies), then times, as separate processes:

- ``ngrok-inspect requests list --json --limit 1000``
- the floor a Python tool can reach: ``requests.get(...).json()`` + ``json.dumps``
- ``curl -s …/api/requests/http?limit=1000 | jq -c '.requests[]'``
- ``ngrok-inspect --version`` and ``requests list --json --limit 1`` (the fixed cost of
  a command: interpreter, typer, one API call) against ``python -c "import requests"``

and counts the modules the first two import (``-X importtime``; a module loaded through
``importlib.import_module``, as the command's own module is, is not in that list).

Prints medians and ratios (and a Markdown table with ``--markdown``). Usage::

    .venv/bin/python bench/bench_cli.py [--runs 15] [--captures 1000] [--markdown]
                                        [--bytecode cached|none] [--before DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from ngrok_inspect.local_agent import LocalAgent

BIN = str(Path(sys.executable).with_name("ngrok-inspect"))


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        got = self.rfile.read(length) if length else b""
        body = json.dumps({"path": self.path, "received": len(got)}).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


def _bytecode_env(mode: str) -> dict[str, str]:
    """The environment of the timed commands.

    ``cached`` (the default) is the case of an installed package: every command, the bare
    script too, reads bytecode from a cache filled by a warm-up round (pip compiles at
    install, but an editable install on a machine with PYTHONDONTWRITEBYTECODE=1 would
    otherwise compile our sources at every start). ``none`` keeps the environment as is.
    """
    env = dict(os.environ)
    if mode == "cached":
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="ngrok-inspect-bench-pyc-")
    return env


def _time_all(
    cases: dict[str, str], runs: int, env: dict[str, str]
) -> dict[str, tuple[float, int]]:
    """Median wall time in ms of each shell command and the size of its stdout. The cases
    run round-robin, so a change in machine load hits them all alike; one untimed round
    first (it fills the bytecode cache, when there is one)."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    sizes: dict[str, int] = {}
    for cmd in cases.values():
        subprocess.run(cmd, shell=True, capture_output=True, check=True, env=env)
    for _ in range(runs):
        for name, cmd in cases.items():
            t0 = time.perf_counter()
            out = subprocess.run(cmd, shell=True, capture_output=True, check=True, env=env)
            times[name].append((time.perf_counter() - t0) * 1000)
            sizes[name] = len(out.stdout)
    return {name: (statistics.median(t), sizes[name]) for name, t in times.items()}


def _modules_imported(cmd: str, env: dict[str, str]) -> int:
    """How many modules ``cmd`` imports, as ``-X importtime`` lists them."""
    out = subprocess.run(
        cmd, shell=True, capture_output=True, text=True, check=True,
        env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
    )  # fmt: skip
    return sum(
        1 for line in out.stderr.splitlines()
        if line.startswith("import time:") and "self [us]" not in line
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--captures", type=int, default=1000)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument(
        "--bytecode",
        choices=("cached", "none"),
        default="cached",
        help="cached: as an installed package (default); none: the environment as is",
    )
    ap.add_argument(
        "--before",
        metavar="DIR",
        help="also time requests list --json with DIR first on PYTHONPATH (another version "
        "of the package, e.g. from `git archive REV ngrok_inspect | tar -x -C DIR`), in "
        "the same round-robin",
    )
    ns = ap.parse_args()

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    up_url = f"http://127.0.0.1:{upstream.server_address[1]}"
    with LocalAgent(up_url) as agent, requests.Session() as s:
        public = agent.tunnels[0].public_url
        for i in range(ns.captures):
            if i % 2:
                s.post(f"{public}/webhook/{i}", json={"event": "push", "n": i}, timeout=10)
            else:
                s.get(f"{public}/items/{i}?q=x", timeout=10)
        api = agent.api_url
        list_url = f"{api}/api/requests/http?limit={ns.captures}"
        held = len(requests.get(list_url, timeout=30).json()["requests"])
        py = sys.executable
        bare = (
            f'{py} -c "import json, requests; '
            f"print(json.dumps(requests.get('{list_url}').json()['requests']))\""
        )
        cases = {
            "ngrok-inspect requests list --json": (
                f"{BIN} requests list --json --limit {ns.captures} --api-url {api}"
            ),
            "bare script (requests + json.dumps)": bare,
        }
        if ns.before:
            cases["before: requests list --json"] = (
                f"env PYTHONPATH={ns.before} " + cases["ngrok-inspect requests list --json"]
            )
        if shutil.which("curl") and shutil.which("jq"):
            cases["curl -s | jq -c '.requests[]'"] = f"curl -s '{list_url}' | jq -c '.requests[]'"
        cases["ngrok-inspect requests list --json --limit 1"] = (
            f"{BIN} requests list --json --limit 1 --api-url {api}"
        )
        cases["ngrok-inspect --version"] = f"{BIN} --version"
        cases['python -c "import requests"'] = f'{py} -c "import requests"'
        env = _bytecode_env(ns.bytecode)
        results = _time_all(cases, ns.runs, env)
        modules = {
            name: _modules_imported(cases[name], env)
            for name in (
                "ngrok-inspect requests list --json",
                "bare script (requests + json.dumps)",
            )
        }
    upstream.shutdown()

    floor = results["bare script (requests + json.dumps)"][0]
    start_floor = results['python -c "import requests"'][0]
    print(
        f"captures held by the agent: {held}; runs per case: {ns.runs} (median); "
        f"bytecode: {ns.bytecode}; load average: {os.getloadavg()[0]:.2f}"
    )
    print(
        "modules imported (-X importtime): "
        + ", ".join(f"{name}: {n}" for name, n in modules.items())
    )
    rows = []
    for name, (ms, size) in results.items():
        fixed_cost = "version" in name or "import requests" in name or "limit 1" in name
        base = start_floor if fixed_cost else floor
        rows.append((name, ms, ms / base, size))
    width = max(len(r[0]) for r in rows)
    for name, ms, ratio, size in rows:
        print(f"{name:<{width}}  {ms:8.1f} ms  {ratio:5.2f}x  {size:>9} bytes out")
    if ns.markdown:
        print("\n| command | median ms | ratio | stdout bytes |\n| --- | ---: | ---: | ---: |")
        for name, ms, ratio, size in rows:
            print(f"| `{name}` | {ms:.1f} | {ratio:.2f}× | {size} |")


if __name__ == "__main__":
    main()
