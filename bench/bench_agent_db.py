"""``agent --db``: the local agent's throughput with its archive writer against without it.

Both runs in one process and one go, alternated (plain, --db, plain, --db ...): the local
agent as a request bin (no upstream cost) on 127.0.0.1, loaded by a separate process of
keep-alive connections (so the load generator's GIL is not the agent's). With ``--db``
the agent has an :class:`~ngrok_inspect.archive.sink.ArchiveSink` as capture listener,
as ``ngrok-inspect agent --db FILE`` does. Reported: requests per second each way, the
ratio (target: >= 0.9, the archive costs the proxy at most 10 %), and that every capture
was stored once (none dropped), how many transactions that took, and how long the final
flush after stopping took. Usage::

    .venv/bin/python bench/bench_agent_db.py [--requests 4000] [--conns 8] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ngrok_inspect.archive.sink import ArchiveSink
from ngrok_inspect.local_agent import LocalAgent

LOAD = r"""
import http.client, sys, threading, time
host, port, n, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def worker(k):
    c = http.client.HTTPConnection(host, port)
    for i in range(k):
        c.request("POST", f"/hook?i={i}", body=b'{"event":"push"}',
                  headers={"Content-Type": "application/json"})
        c.getresponse().read()
ts = [threading.Thread(target=worker, args=(n // conns,)) for _ in range(conns)]
t0 = time.perf_counter()
for t in ts: t.start()
for t in ts: t.join()
print(n // conns * conns / (time.perf_counter() - t0))
"""


def load(url: str, n: int, conns: int) -> float:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    out = subprocess.run(
        [sys.executable, "-c", LOAD, host, port, str(n), str(conns)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout)


def one_round(n: int, conns: int, tmp: Path, k: int) -> dict[str, Any]:
    with LocalAgent(None, inspect_db_size=10**9) as agent:
        plain = load(agent.public_url, n, conns)
    sink = ArchiveSink(tmp / f"round{k}.sqlite", "bench").start()
    with LocalAgent(None, inspect_db_size=10**9, on_capture=sink) as agent:
        with_db = load(agent.public_url, n, conns)
        dropped = agent.captures_dropped
    t0 = time.perf_counter()
    sink.close()
    flush_ms = (time.perf_counter() - t0) * 1000
    sent = n // conns * conns
    return {
        "plain_rps": plain,
        "db_rps": with_db,
        "ratio": with_db / plain,
        "stored": sink.stored,
        "sent": sent,
        "dropped": dropped,
        "batches": sink.batches,
        "flush_after_stop_ms": flush_ms,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        rounds = [one_round(args.requests, args.conns, Path(d), k) for k in range(args.rounds)]
    summary = {
        "rounds": rounds,
        "median_ratio": statistics.median(r["ratio"] for r in rounds),
        "all_stored_once": all(r["stored"] == r["sent"] and r["dropped"] == 0 for r in rounds),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    for r in rounds:
        print(
            f"plain {r['plain_rps']:7.0f} req/s   --db {r['db_rps']:7.0f} req/s   "
            f"ratio {r['ratio']:.2f}   stored {r['stored']}/{r['sent']} in {r['batches']} "
            f"transactions, dropped {r['dropped']}, "
            f"flush after stop {r['flush_after_stop_ms']:.0f} ms"
        )
    print(
        f"median ratio {summary['median_ratio']:.2f} (target >= 0.90); "
        f"every capture stored once: {summary['all_stored_once']}"
    )


if __name__ == "__main__":
    main()
