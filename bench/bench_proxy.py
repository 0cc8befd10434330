"""Benchmark the local agent's capture proxy against direct access and mitmdump.

One run on loopback, every party in its own process (2-core machines: the load
generator, the proxy and the upstream each get a share):

* requests/s at 32 keep-alive connections, and p50/p99 latency at 1 connection, for
  direct upstream, ``ngrok-inspect agent`` and ``mitmdump --mode reverse:...``;
* peak RSS (VmHWM) of the agent after 100,000 requests with a 20 MB store.

Usage::

    .venv/bin/python bench/bench_proxy.py                      # everything (~2 min)
    .venv/bin/python bench/bench_proxy.py --duration 5 --rss-requests 20000
    .venv/bin/python bench/bench_proxy.py --mitmdump /tmp/benchvenv/bin/mitmdump

mitmdump is looked up on PATH, in /tmp/benchvenv/bin and next to this Python; install
it in a separate venv (``python -m venv /tmp/benchvenv && /tmp/benchvenv/bin/pip install
mitmproxy``). Without it the comparison is against direct access only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

UPSTREAM_CODE = r"""
import asyncio, sys
BODY = b'{"ok": true, "pad": "' + b"x" * 200 + b'"}'
RESP = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
class P(asyncio.Protocol):
    def connection_made(self, t): self.t = t; self.buf = b""
    def data_received(self, d):
        self.buf += d
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i < 0: return
            head = self.buf[:i].lower(); n = 0
            for line in head.split(b"\r\n"):
                if line.startswith(b"content-length:"): n = int(line.split(b":")[1])
            if len(self.buf) < i + 4 + n: return
            self.buf = self.buf[i + 4 + n:]
            self.t.write(RESP)
async def main():
    srv = await asyncio.get_running_loop().create_server(P, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await srv.serve_forever()
asyncio.run(main())
"""

LOADGEN_CODE = r"""
import asyncio, json, sys, time
host, port, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
duration, total = float(sys.argv[4]), int(sys.argv[5])
BODY = b'{"k": "' + b"v" * 55 + b'"}'
REQ = (b"POST /bench?x=1 HTTP/1.1\r\nHost: " + f"{host}:{port}".encode()
       + b"\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n" + BODY)
lat = []; done = 0; errors = 0
async def worker(stop_at):
    global done, errors
    r, w = await asyncio.open_connection(host, port)
    while True:
        if total and done >= total: break
        if not total and time.perf_counter() >= stop_at: break
        t0 = time.perf_counter()
        w.write(REQ)
        head = await r.readuntil(b"\r\n\r\n")
        n = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"): n = int(line.split(b":")[1])
        if n: await r.readexactly(n)
        if not head.startswith(b"HTTP/1.1 200"): errors += 1
        lat.append(time.perf_counter() - t0); done += 1
    w.close()
async def main():
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(t0 + duration) for _ in range(conns)))
    el = time.perf_counter() - t0
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
    print(json.dumps({"requests": done, "errors": errors, "seconds": el, "rps": done / el,
                      "p50_ms": q(0.5), "p99_ms": q(0.99)}))
asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def load(port: int, conns: int, duration: float, total: int = 0) -> dict[str, Any]:
    out = subprocess.run(
        [PY, "-c", LOADGEN_CODE, "127.0.0.1", str(port), str(conns), str(duration), str(total)],
        capture_output=True,
        text=True,
        timeout=max(duration * 3, 600),
        check=True,
    )
    return dict(json.loads(out.stdout))


def find_mitmdump(given: str | None) -> str | None:
    if given:
        return given
    for cand in (
        shutil.which("mitmdump"),
        "/tmp/benchvenv/bin/mitmdump",
        str(Path(PY).with_name("mitmdump")),
    ):
        if cand and Path(cand).exists():
            return cand
    return None


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_agent(upstream_port: int, port: int, store: str = "50MB") -> subprocess.Popen[bytes]:
    exe = str(Path(PY).with_name("ngrok-inspect"))
    proc = subprocess.Popen(
        [
            exe,
            "agent",
            f"127.0.0.1:{upstream_port}",
            "--listen",
            f"127.0.0.1:{port}",
            "--web-addr",
            "127.0.0.1:0",
            "--quiet",
            "--inspect-db-size",
            store,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def measure(name: str, port: int, duration: float) -> dict[str, Any]:
    load(port, 4, 1.0)  # warm-up
    one = load(port, 1, duration)
    many = load(port, 32, duration)
    row = {
        "target": name,
        "rps_32": many["rps"],
        "p50_1_ms": one["p50_ms"],
        "p99_1_ms": one["p99_ms"],
        "p50_32_ms": many["p50_ms"],
        "p99_32_ms": many["p99_ms"],
        "errors": one["errors"] + many["errors"],
    }
    print(json.dumps(row), file=sys.stderr)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    ap.add_argument("--rss-requests", type=int, default=100_000)
    ap.add_argument("--mitmdump", default=None)
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()

    up_port = free_port()
    upstream = subprocess.Popen([PY, "-c", UPSTREAM_CODE, str(up_port)], stdout=subprocess.PIPE)
    assert upstream.stdout is not None
    upstream.stdout.readline()
    rows = []
    try:
        rows.append(measure("direct", up_port, args.duration))
        port = free_port()
        agent = start_agent(up_port, port)
        try:
            rows.append(measure("ngrok-inspect agent", port, args.duration))
        finally:
            stop(agent)
        mitm = find_mitmdump(args.mitmdump)
        if mitm:
            port = free_port()
            proc = subprocess.Popen(
                [
                    mitm,
                    "--mode",
                    f"reverse:http://127.0.0.1:{up_port}",
                    "--listen-host",
                    "127.0.0.1",
                    "--listen-port",
                    str(port),
                    "-q",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_port(port, 60)
                rows.append(measure("mitmdump", port, args.duration))
            finally:
                stop(proc)
        else:
            print("mitmdump not found: comparing against direct only", file=sys.stderr)
        # peak RSS with a 20 MB store
        port = free_port()
        agent = start_agent(up_port, port, store="20MB")
        try:
            res = load(port, 32, 0, total=args.rss_requests)
            rss = {
                "requests": res["requests"],
                "errors": res["errors"],
                "peak_rss_mb": peak_rss_mb(agent.pid),
                "store_mb": 20,
            }
        finally:
            stop(agent)
    finally:
        upstream.terminate()
        upstream.wait(10)

    by = {r["target"]: r for r in rows}
    direct, agent_row = by["direct"], by["ngrok-inspect agent"]
    result = {
        "rows": rows,
        "agent_vs_direct_rps": agent_row["rps_32"] / direct["rps_32"],
        "added_p50_ms_1conn": agent_row["p50_1_ms"] - direct["p50_1_ms"],
        "added_p99_ms_1conn": agent_row["p99_1_ms"] - direct["p99_1_ms"],
        "rss": rss,
        "cpus": os.cpu_count(),
    }
    if "mitmdump" in by:
        result["agent_vs_mitmdump_rps"] = agent_row["rps_32"] / by["mitmdump"]["rps_32"]
        result["mitmdump_added_p50_ms_1conn"] = by["mitmdump"]["p50_1_ms"] - direct["p50_1_ms"]
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{'target':<22}{'req/s @32':>12}{'p50 @1 ms':>12}{'p99 @1 ms':>12}{'p99 @32 ms':>12}")
    for r in rows:
        print(
            f"{r['target']:<22}{r['rps_32']:>12.0f}{r['p50_1_ms']:>12.3f}"
            f"{r['p99_1_ms']:>12.3f}{r['p99_32_ms']:>12.3f}"
        )
    print(f"agent / direct throughput: {result['agent_vs_direct_rps']:.1%} (target >= 20%)")
    if "agent_vs_mitmdump_rps" in result:
        print(f"agent / mitmdump throughput: {result['agent_vs_mitmdump_rps']:.1f}x (target >= 6x)")
    print(
        f"added p50 at 1 conn: {result['added_p50_ms_1conn']:.3f} ms (target <= 0.5 ms); "
        f"added p99: {result['added_p99_ms_1conn']:.3f} ms"
    )
    print(
        f"peak RSS after {rss['requests']} requests, 20 MB store: {rss['peak_rss_mb']:.1f} MB "
        f"(target <= {20 + 60} MB)"
    )


if __name__ == "__main__":
    main()
