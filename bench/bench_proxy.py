"""Benchmark the local agent's capture proxy against direct access and mitmdump.

One run on loopback, every party in its own process (2-core machines: the load
generator, the proxy and the upstream each get a share):

* requests/s at 32 keep-alive connections, and p50/p99 latency at 1 connection, for
  direct upstream, ``ngrok-inspect agent`` and ``mitmdump --mode reverse:...``;
* peak RSS (VmHWM) of the agent after 100,000 requests with a 20 MB store;
* latency at 1 reused connection behind Python's ``http.server`` (HTTP/1.1, head and
  body in two sends: the delayed-ACK case), direct and through the agent;
* a full store (100,000 entries): the time of ``limit=100`` and of a full listing (the
  first one serializes every entry, later ones join the cached JSON), and proxied
  p50/p99 at 1 connection while full listings run back to back, against the same agent
  with no listing.

Usage::

    .venv/bin/python bench/bench_proxy.py                      # everything (~2 min)
    .venv/bin/python bench/bench_proxy.py --duration 5 --rss-requests 20000
    .venv/bin/python bench/bench_proxy.py --mitmdump /tmp/benchvenv/bin/mitmdump
    .venv/bin/python bench/bench_proxy.py --only store --store-entries 100000

mitmdump is looked up on PATH, in /tmp/benchvenv/bin and next to this Python; install
it in a separate venv (``python -m venv /tmp/benchvenv && /tmp/benchvenv/bin/pip install
mitmproxy``). Without it the comparison is against direct access only.
"""

from __future__ import annotations

import argparse
import http.client
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

HTTPSERVER_CODE = r"""
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
BODY = b'{"ok": true, "pad": "' + b"x" * 200 + b'"}'
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive; head and body go out in two sends
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *args): pass
srv = HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
print("ready", flush=True)
srv.serve_forever()
"""

LOADGEN_CODE = r"""
import asyncio, json, socket, sys, time
host, port, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
duration, total = float(sys.argv[4]), int(sys.argv[5])
# re-arm quick ACKs before each read, as the agent does towards its upstreams: without
# it a client of an upstream that writes head and body apart waits 40 ms per request
quickack = len(sys.argv) > 6 and sys.argv[6] == "quickack"
BODY = b'{"k": "' + b"v" * 55 + b'"}'
REQ = (b"POST /bench?x=1 HTTP/1.1\r\nHost: " + f"{host}:{port}".encode()
       + b"\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n" + BODY)
lat = []; done = 0; errors = 0
async def worker(stop_at):
    global done, errors
    r, w = await asyncio.open_connection(host, port)
    sock = w.get_extra_info("socket")
    while True:
        if total and done >= total: break
        if not total and time.perf_counter() >= stop_at: break
        t0 = time.perf_counter()
        w.write(REQ)
        if quickack: sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
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


def loadgen_args(port: int, conns: int, duration: float, total: int, quickack: bool) -> list[str]:
    args = [PY, "-c", LOADGEN_CODE, "127.0.0.1", str(port), str(conns), str(duration), str(total)]
    return args + (["quickack"] if quickack else [])


def load(
    port: int, conns: int, duration: float, total: int = 0, *, quickack: bool = False
) -> dict[str, Any]:
    out = subprocess.run(
        loadgen_args(port, conns, duration, total, quickack),
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


def start_agent(
    upstream_port: int, port: int, store: str = "50MB", web_port: int = 0
) -> subprocess.Popen[bytes]:
    exe = str(Path(PY).with_name("ngrok-inspect"))
    proc = subprocess.Popen(
        [
            exe,
            "agent",
            f"127.0.0.1:{upstream_port}",
            "--listen",
            f"127.0.0.1:{port}",
            "--web-addr",
            f"127.0.0.1:{web_port}",
            "--quiet",
            "--inspect-db-size",
            store,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    if web_port:
        wait_port(web_port)
    return proc


def start_upstream(code: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen([PY, "-c", code, str(port)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()
    return proc, port


def get_listing(web_port: int, limit: int) -> tuple[float, int, bytes]:
    """(seconds, bytes) of one ``GET /api/requests/http?limit=``, and its first bytes."""
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", web_port, timeout=600)
    conn.request("GET", f"/api/requests/http?limit={limit}")
    resp = conn.getresponse()
    size, first = 0, b""
    while True:
        data = resp.read(1 << 20)
        if not data:
            break
        if not first:
            first = data[:200]
        size += len(data)
    conn.close()
    return time.perf_counter() - t0, size, first


def count_entries(web_port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", web_port, timeout=600)
    conn.request("GET", "/api/requests/http?limit=1000000")
    n = len(json.loads(conn.getresponse().read())["requests"])
    conn.close()
    return n


def measure_http_server(duration: float) -> dict[str, Any]:
    """Added latency on one reused connection behind ``http.server`` (two sends)."""
    upstream, up_port = start_upstream(HTTPSERVER_CODE)
    try:
        load(up_port, 1, 1.0, quickack=True)
        direct = load(up_port, 1, duration, quickack=True)
        port = free_port()
        agent = start_agent(up_port, port)
        try:
            load(port, 1, 1.0)
            proxied = load(port, 1, duration)
        finally:
            stop(agent)
    finally:
        upstream.terminate()
        upstream.wait(10)
    row = {
        "direct_p50_ms": direct["p50_ms"],
        "direct_p99_ms": direct["p99_ms"],
        "agent_p50_ms": proxied["p50_ms"],
        "agent_p99_ms": proxied["p99_ms"],
        "added_p50_ms": proxied["p50_ms"] - direct["p50_ms"],
        "errors": direct["errors"] + proxied["errors"],
    }
    print(json.dumps({"http.server": row}), file=sys.stderr)
    return row


def measure_full_store(up_port: int, entries: int, duration: float) -> dict[str, Any]:
    """A store holding ``entries``: listing times, proxied latency while listing."""
    port, web_port = free_port(), free_port()
    # about 2.4 KB of budget per bench entry (its messages and their JSON), with room
    agent = start_agent(
        up_port, port, store=f"{entries * 3000 // 1_000_000 + 10}MB", web_port=web_port
    )
    try:
        filled = load(port, 32, 0, total=entries)
        held = count_entries(web_port)
        small = sorted(get_listing(web_port, 100)[0] for _ in range(5))
        quiet = load(port, 1, duration)  # the same agent and store, nothing listing
        row: dict[str, Any] = {
            "entries": held,
            "fill_errors": filled["errors"],
            "limit100_ms": small[len(small) // 2] * 1000,
        }
        # the first listing serializes every entry; proxied requests run meanwhile
        gen = subprocess.Popen(
            loadgen_args(port, 1, duration, 0, False), stdout=subprocess.PIPE, text=True
        )
        listings: list[tuple[float, int]] = []
        while gen.poll() is None:
            seconds, size, _ = get_listing(web_port, 1_000_000)
            listings.append((seconds, size))
        busy = json.loads(gen.communicate()[0])
        row.update(
            first_full_listing_s=listings[0][0],
            cached_full_listing_s=min(t for t, _ in listings[1:]) if len(listings) > 1 else None,
            full_listing_mb=listings[0][1] / 1e6,
            listings_during_load=len(listings),
            quiet_p50_ms=quiet["p50_ms"],
            quiet_p99_ms=quiet["p99_ms"],
            listing_p50_ms=busy["p50_ms"],
            listing_p99_ms=busy["p99_ms"],
            listing_errors=busy["errors"],
            peak_rss_mb=peak_rss_mb(agent.pid),
        )
    finally:
        stop(agent)
    print(json.dumps({"full store": row}), file=sys.stderr)
    return row


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


PARTS = ("proxy", "rss", "httpserver", "store")


def measure_throughput(up_port: int, duration: float, mitmdump: str | None) -> list[dict[str, Any]]:
    rows = [measure("direct", up_port, duration)]
    port = free_port()
    agent = start_agent(up_port, port)
    try:
        rows.append(measure("ngrok-inspect agent", port, duration))
    finally:
        stop(agent)
    mitm = find_mitmdump(mitmdump)
    if not mitm:
        print("mitmdump not found: comparing against direct only", file=sys.stderr)
        return rows
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
        rows.append(measure("mitmdump", port, duration))
    finally:
        stop(proc)
    return rows


def measure_rss(up_port: int, requests: int) -> dict[str, Any]:
    port = free_port()
    agent = start_agent(up_port, port, store="20MB")
    try:
        res = load(port, 32, 0, total=requests)
        return {
            "requests": res["requests"],
            "errors": res["errors"],
            "peak_rss_mb": peak_rss_mb(agent.pid),
            "store_mb": 20,
        }
    finally:
        stop(agent)


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by = {r["target"]: r for r in rows}
    direct, agent_row = by["direct"], by["ngrok-inspect agent"]
    out = {
        "agent_vs_direct_rps": agent_row["rps_32"] / direct["rps_32"],
        "added_p50_ms_1conn": agent_row["p50_1_ms"] - direct["p50_1_ms"],
        "added_p99_ms_1conn": agent_row["p99_1_ms"] - direct["p99_1_ms"],
    }
    if "mitmdump" in by:
        out["agent_vs_mitmdump_rps"] = agent_row["rps_32"] / by["mitmdump"]["rps_32"]
        out["mitmdump_added_p50_ms_1conn"] = by["mitmdump"]["p50_1_ms"] - direct["p50_1_ms"]
    return out


def report(result: dict[str, Any]) -> None:
    rows = result.get("rows")
    if rows:
        print(
            f"{'target':<22}{'req/s @32':>12}{'p50 @1 ms':>12}{'p99 @1 ms':>12}{'p99 @32 ms':>12}"
        )
        for r in rows:
            print(
                f"{r['target']:<22}{r['rps_32']:>12.0f}{r['p50_1_ms']:>12.3f}"
                f"{r['p99_1_ms']:>12.3f}{r['p99_32_ms']:>12.3f}"
            )
        print(f"agent / direct throughput: {result['agent_vs_direct_rps']:.1%} (target >= 20%)")
        if "agent_vs_mitmdump_rps" in result:
            ratio = result["agent_vs_mitmdump_rps"]
            print(f"agent / mitmdump throughput: {ratio:.1f}x (target >= 6x)")
        print(
            f"added p50 at 1 conn: {result['added_p50_ms_1conn']:.3f} ms (target <= 0.5 ms); "
            f"added p99: {result['added_p99_ms_1conn']:.3f} ms"
        )
    rss = result.get("rss")
    if rss:
        print(
            f"peak RSS after {rss['requests']} requests, 20 MB store: {rss['peak_rss_mb']:.1f} MB "
            f"(target <= {20 + 60} MB)"
        )
    hs = result.get("http_server")
    if hs:
        print(
            f"http.server upstream, 1 reused conn: p50 direct {hs['direct_p50_ms']:.3f} ms, "
            f"agent {hs['agent_p50_ms']:.3f} ms: added {hs['added_p50_ms']:.3f} ms "
            "(target <= 1 ms)"
        )
    st = result.get("store")
    if st:
        cached = st["cached_full_listing_s"]
        print(
            f"full store, {st['entries']} entries: limit=100 {st['limit100_ms']:.1f} ms; "
            f"full listing ({st['full_listing_mb']:.0f} MB) {st['first_full_listing_s']:.2f} s "
            f"first, {cached if cached is None else round(cached, 2)} s cached; "
            f"peak RSS {st['peak_rss_mb']:.0f} MB"
        )
        print(
            f"proxied @1 conn while listing: p50 {st['listing_p50_ms']:.2f} ms, "
            f"p99 {st['listing_p99_ms']:.2f} ms (target <= 50 ms); with no listing: "
            f"p50 {st['quiet_p50_ms']:.2f} ms, p99 {st['quiet_p99_ms']:.2f} ms"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    ap.add_argument("--rss-requests", type=int, default=100_000)
    ap.add_argument("--store-entries", type=int, default=100_000)
    ap.add_argument("--mitmdump", default=None)
    ap.add_argument(
        "--only", action="append", choices=PARTS, help="run only this part (repeatable)"
    )
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    parts = set(args.only or PARTS)

    upstream, up_port = start_upstream(UPSTREAM_CODE)
    result: dict[str, Any] = {"cpus": os.cpu_count(), "load_average": os.getloadavg()}
    try:
        if "proxy" in parts:
            result["rows"] = measure_throughput(up_port, args.duration, args.mitmdump)
            result.update(summarize(result["rows"]))
        if "rss" in parts:
            result["rss"] = measure_rss(up_port, args.rss_requests)
        if "httpserver" in parts:
            result["http_server"] = measure_http_server(args.duration)
        if "store" in parts:
            result["store"] = measure_full_store(up_port, args.store_entries, args.duration)
    finally:
        upstream.terminate()
        upstream.wait(10)
    result["load_average_end"] = os.getloadavg()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        report(result)


if __name__ == "__main__":
    main()
