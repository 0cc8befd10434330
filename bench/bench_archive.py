"""The capture archive (SQLite) against its floors, in one run.

* **record keeps up**: the local agent at full load (32 keep-alive connections of the
  proxy bench's load generator, in front of its minimal upstream) while
  ``ngrok-inspect record --db FILE`` follows it; captures stored per second against the
  agent's requests per second over the same window (target: ratio >= 1), whether the lag
  grows over the window (a follower that keeps pace stays one poll behind: ratio 1 within
  the noise of that step), and how long ``record`` needs after the load stops to have
  stored every capture.
* **a filtered listing over 1,000,000 captures**: ``requests list --db FILE --status 5xx
  --limit 50`` (piped: plain text, and ``--json``) against the equivalent query in the
  ``sqlite3`` shell (same columns, same order), each a separate process, median of the
  runs (target: within 3x). Also the same query in-process (``ArchiveSource.query`` against
  ``sqlite3`` in Python), to separate the query from the interpreter's start-up.
* **size**: the archive's bytes per capture against the raw bytes of its messages.

The million captures are generated through the archive's public store API
(``ArchiveWriter.add``) in batches: 90 % 200, 5 % 404, 5 % 5xx, GET and POST, two
tunnels, a month of start times. Usage::

    .venv/bin/python bench/bench_archive.py                       # everything
    .venv/bin/python bench/bench_archive.py --captures 1000000 --keep /tmp/archive-1m.db
    .venv/bin/python bench/bench_archive.py --only query --keep /tmp/archive-1m.db  # reuse
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_proxy

from ngrok_inspect.archive import ArchiveSource, ArchiveWriter
from ngrok_inspect.filters import RequestFilter
from ngrok_inspect.local_agent.ksuid import request_id
from ngrok_inspect.models import CapturedRequest

BIN = str(Path(sys.executable).with_name("ngrok-inspect"))
SQLITE3 = shutil.which("sqlite3")
PARTS = ("record", "query", "size")
# the query as one would write it in the shell, and in the shape ngrok-inspect sends
# (status / 100 = 5: the status-class index of schema v2, in start order)
NATURAL = "status BETWEEN 500 AND 599"
INDEXED = "status / 100 = 5"
LIST_SQL = (
    "SELECT id, start, method, path, status, duration_ns FROM captures"
    " WHERE {} ORDER BY start_us DESC, id DESC LIMIT 50"
)
JSON_SQL = (
    "SELECT record, hex(request_raw), hex(response_raw) FROM captures"
    " WHERE {} ORDER BY start_us DESC, id DESC LIMIT 50"
)
ROWS_SQL = (
    "SELECT record, request_raw, response_raw FROM captures"
    " WHERE {} ORDER BY start_us DESC, id DESC LIMIT 50"
)
T0 = 1_793_000_000  # 2026-10-26: a month of captures before the run's date


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def synthetic(i: int, n: int) -> CapturedRequest:
    """The ``i``-th of ``n`` captures, spread over 30 days, oldest first."""
    start = T0 + i * (30 * 86_400) / n
    status = 200
    if i % 20 == 7:
        status = 404
    elif i % 20 == 13:
        status = (500, 502, 503)[i % 3]
    post = i % 3 == 0
    method = "POST" if post else "GET"
    path = f"/webhook/{i % 50}" if post else f"/items/{i % 1000}"
    body = json.dumps({"event": "push", "n": i, "ref": "refs/heads/main"}).encode() if post else b""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: example.ngrok.app\r\nUser-Agent: bench/1.0\r\n"
        f"Accept: */*\r\nX-Forwarded-For: 203.0.113.7\r\n"
    )
    if post:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    req_raw = (head + "\r\n").encode() + body
    answer = json.dumps({"ok": status < 400, "id": i}).encode()
    resp_raw = (
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(answer)}\r\n\r\n"
    ).encode() + answer
    rid = request_id(start)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(start)))
    req_headers = {"Host": ["example.ngrok.app"], "User-Agent": ["bench/1.0"]}
    return CapturedRequest(
        {
            "uri": f"/api/requests/http/{rid}",
            "id": rid,
            "tunnel_name": "web" if i % 4 else "api",
            "remote_addr": "203.0.113.7",
            "start": stamp,
            "duration": 1_000_000 + (i % 997) * 1000,
            "request": {
                "method": method,
                "proto": "HTTP/1.1",
                "headers": req_headers,
                "uri": path,
                "raw": _b64(req_raw),
            },
            "response": {
                "status": f"{status} X",
                "status_code": status,
                "proto": "HTTP/1.1",
                "headers": {"Content-Type": ["application/json"]},
                "raw": _b64(resp_raw),
            },
        }
    )


def generate(path: Path, n: int, batch: int = 10_000) -> dict[str, Any]:
    t0 = time.perf_counter()
    with ArchiveWriter(path) as writer:
        for pos in range(0, n, batch):
            writer.add([synthetic(i, n) for i in range(pos, min(n, pos + batch))], "bench")
    seconds = time.perf_counter() - t0
    print(f"generated {n} captures in {seconds:.0f} s", file=sys.stderr)
    return {"captures": n, "seconds": seconds}


def timed(cmd: list[str], runs: int) -> tuple[float, int]:
    """Median wall time (s) of ``cmd`` over ``runs`` runs, and its output size."""
    times, size = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
        size = len(out.stdout)
    return statistics.median(times), size


def measure_query(path: Path, runs: int) -> dict[str, Any]:
    env_cmd = [BIN, "requests", "list", "--db", str(path), "--status", "5xx", "--limit", "50"]
    cases: dict[str, list[str]] = {
        "cli_plain": env_cmd,
        "cli_json": [*env_cmd, "--json"],
        "cli_limit1_fixed_cost": [BIN, "requests", "list", "--db", str(path), "--limit", "1"],
    }
    if SQLITE3:
        cases["sqlite3_list"] = [SQLITE3, str(path), LIST_SQL.format(NATURAL)]
        cases["sqlite3_json"] = [SQLITE3, "-json", str(path), JSON_SQL.format(NATURAL)]
        cases["sqlite3_list_indexed"] = [SQLITE3, str(path), LIST_SQL.format(INDEXED)]
        cases["sqlite3_json_indexed"] = [SQLITE3, "-json", str(path), JSON_SQL.format(INDEXED)]
    times: dict[str, list[float]] = {k: [] for k in cases}
    sizes: dict[str, int] = {}
    for cmd in cases.values():  # warm the page cache, check each works
        timed(cmd, 1)
    for _ in range(runs):  # round-robin, so drift hits every case alike
        for name, cmd in cases.items():
            seconds, sizes[name] = timed(cmd, 1)
            times[name].append(seconds)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    row: dict[str, Any] = {f"{k}_ms": v for k, v in med.items()}
    row["output_bytes"] = sizes
    if SQLITE3:
        row["cli_plain_vs_sqlite3"] = med["cli_plain"] / med["sqlite3_list"]
        row["cli_json_vs_sqlite3"] = med["cli_json"] / med["sqlite3_json"]
        row["cli_plain_vs_sqlite3_indexed"] = med["cli_plain"] / med["sqlite3_list_indexed"]
        row["cli_json_vs_sqlite3_indexed"] = med["cli_json"] / med["sqlite3_json_indexed"]
    # in-process: the query alone, as ArchiveSource runs it and as bare sqlite3 does
    flt = RequestFilter.parse(status="5xx")
    best: dict[str, float] = {}
    with ArchiveSource(path) as source:
        for _ in range(max(runs, 5)):
            t0 = time.perf_counter()
            got = source.query(flt, 50)
            best["source"] = min(best.get("source", 1e9), time.perf_counter() - t0)
        assert len(got) == 50
    conn = sqlite3.connect(path)
    for name, where in (("natural", NATURAL), ("indexed", INDEXED)):
        for _ in range(max(runs, 5)):
            t0 = time.perf_counter()
            conn.execute(ROWS_SQL.format(where)).fetchall()
            best[name] = min(best.get(name, 1e9), time.perf_counter() - t0)
        plan = conn.execute("EXPLAIN QUERY PLAN " + ROWS_SQL.format(where)).fetchall()
        row[f"plan_{name}"] = "; ".join(str(p[-1]) for p in plan)
    conn.close()
    row.update(
        inprocess_source_ms=best["source"] * 1000,
        inprocess_sqlite3_natural_ms=best["natural"] * 1000,
        inprocess_sqlite3_indexed_ms=best["indexed"] * 1000,
    )
    print(json.dumps({"query": row}), file=sys.stderr)
    return row


def measure_size(path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    n, raw, record = conn.execute(
        "SELECT count(*), sum(length(request_raw) + coalesce(length(response_raw), 0)),"
        " sum(length(record)) FROM captures"
    ).fetchone()
    conn.close()
    size = path.stat().st_size + sum(
        p.stat().st_size for p in (Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
    )
    row = {
        "captures": n,
        "file_bytes": size,
        "bytes_per_capture": size / n,
        "raw_bytes_per_capture": raw / n,
        "record_json_bytes_per_capture": record / n,
        "file_vs_raw": size / raw,
    }
    print(json.dumps({"size": row}), file=sys.stderr)
    return row


def _count(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute("SELECT count(*) FROM captures").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        conn.close()


def _served(web_port: int) -> int:
    """Requests the agent's tunnels have served so far (the API's metrics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/api/tunnels", timeout=30) as r:
        tunnels = json.loads(r.read())["tunnels"]
    return sum(int(t["metrics"]["http"]["count"]) for t in tunnels)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over t."""
    n = len(points)
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (y - my) for t, y in points) / var


def measure_record(duration: float, workdir: Path) -> dict[str, Any]:
    """Stored/s against served/s inside a full-load window (20 % to 90 % of it, so the
    start-up and a steady lag cancel out), then how long 'record' needs to catch up.

    'record' stores what each poll brought in one go, so its count rises in steps (one
    every 2-3 s at full load): both counts are sampled every 0.2 s and each rate is the
    least-squares slope over the window (two points alone would land on a step's top or
    bottom by chance); the two-point figure is reported too. The CPU time each process
    used over the window, per capture, says what 'record' costs against the agent
    whatever share of the machine each got."""
    upstream, up_port = bench_proxy.start_upstream(bench_proxy.UPSTREAM_CODE)
    port, web_port = bench_proxy.free_port(), bench_proxy.free_port()
    # a store big enough that nothing is evicted before 'record' reads it
    agent = bench_proxy.start_agent(up_port, port, store="500MB", web_port=web_port)
    db = workdir / "record.db"
    rec = subprocess.Popen(
        [BIN, "--api-url", f"http://127.0.0.1:{web_port}", "record", "--db", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        bench_proxy.load(port, 4, 1.0)  # warm-up; 'record' stores these too
        deadline = time.monotonic() + 60
        while _count(db) < _served(web_port) and time.monotonic() < deadline:
            time.sleep(0.1)
        gen = subprocess.Popen(
            bench_proxy.loadgen_args(port, 32, duration, 0, False),
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(duration * 0.2)
        cpu1 = _cpu_seconds(rec.pid), _cpu_seconds(agent.pid)
        t1, served1, stored1 = time.perf_counter(), _served(web_port), _count(db)
        samples = [(t1, served1, stored1)]
        while time.perf_counter() < t1 + duration * 0.7:
            time.sleep(0.2)
            samples.append((time.perf_counter(), _served(web_port), _count(db)))
        t2, served2, stored2 = samples[-1]
        cpu2 = _cpu_seconds(rec.pid), _cpu_seconds(agent.pid)
        load = json.loads(gen.communicate()[0])
        t_end = time.perf_counter()
        target = _served(web_port)
        while _count(db) < target and time.perf_counter() - t_end < 120:
            time.sleep(0.05)
        lag = time.perf_counter() - t_end
        missing = target - _count(db)
    finally:
        rec.terminate()
        rec.wait(15)
        bench_proxy.stop(agent)
        upstream.terminate()
        upstream.wait(10)
    window = t2 - t1
    served_slope = _slope([(t, served) for t, served, _ in samples])
    stored_slope = _slope([(t, stored) for t, _, stored in samples])
    row = {
        "window_s": window,
        "samples": len(samples),
        "agent_rps": served_slope,
        "stored_per_s": stored_slope,
        "stored_vs_agent": stored_slope / served_slope,
        "two_point_stored_vs_agent": (stored2 - stored1) / max(served2 - served1, 1),
        "max_behind": max(served - stored for _, served, stored in samples),
        # keeping up means a lag that does not grow: its slope over the window (captures/s;
        # about 0 for a follower that keeps pace, the shortfall for one that falls behind)
        # and the largest lag in seconds of the agent's traffic
        "lag_growth_per_s": _slope([(t, served - stored) for t, served, stored in samples]),
        "max_behind_s": max(served - stored for _, served, stored in samples) / served_slope,
        "record_cpu_us_per_capture": (cpu2[0] - cpu1[0]) * 1e6 / max(stored2 - stored1, 1),
        "agent_cpu_us_per_request": (cpu2[1] - cpu1[1]) * 1e6 / max(served2 - served1, 1),
        "load_requests": load["requests"],
        "behind_at_window_end": served2 - stored2,
        "catch_up_s": lag,
        "never_stored": missing,
    }
    print(json.dumps({"record": row}), file=sys.stderr)
    return row


def report(result: dict[str, Any]) -> None:
    print(
        f"{result['cpus']} CPUs; load average {result['load_average'][0]:.1f} at the start, "
        f"{result['load_average_end'][0]:.1f} at the end"
    )
    r = result.get("record")
    if r:
        print(
            f"record at full load: agent {r['agent_rps']:.0f} req/s, stored "
            f"{r['stored_per_s']:.0f}/s over the same {r['window_s']:.1f} s: ratio "
            f"{r['stored_vs_agent']:.3f} (target >= 1; two points: "
            f"{r['two_point_stored_vs_agent']:.3f}); at most {r['max_behind']} behind "
            f"({r['max_behind_s']:.2f} s of traffic; the lag grew {r['lag_growth_per_s']:.0f}/s), "
            f"{r['behind_at_window_end']} at the end of the window, all stored "
            f"{r['catch_up_s']:.1f} s after the load stopped ({r['never_stored']} never); CPU "
            f"per capture: record {r['record_cpu_us_per_capture']:.0f} us, agent "
            f"{r['agent_cpu_us_per_request']:.0f} us"
        )
    q = result.get("query")
    if q:
        print(
            f"requests list --db --status 5xx --limit 50: {q['cli_plain_ms']:.0f} ms plain, "
            f"{q['cli_json_ms']:.0f} ms --json; fixed cost (--limit 1) "
            f"{q['cli_limit1_fixed_cost_ms']:.0f} ms"
        )
        if "sqlite3_list_ms" in q:
            print(
                f"sqlite3 shell, {NATURAL}: {q['sqlite3_list_ms']:.1f} ms list, "
                f"{q['sqlite3_json_ms']:.1f} ms json: ratio {q['cli_plain_vs_sqlite3']:.1f}x "
                f"plain, {q['cli_json_vs_sqlite3']:.1f}x json (target <= 3x)"
            )
            print(
                f"sqlite3 shell, {INDEXED}: {q['sqlite3_list_indexed_ms']:.1f} ms list, "
                f"{q['sqlite3_json_indexed_ms']:.1f} ms json: ratio "
                f"{q['cli_plain_vs_sqlite3_indexed']:.1f}x plain, "
                f"{q['cli_json_vs_sqlite3_indexed']:.1f}x json"
            )
        print(
            f"in-process: ArchiveSource.query {q['inprocess_source_ms']:.2f} ms; bare sqlite3 "
            f"{q['inprocess_sqlite3_natural_ms']:.2f} ms ({NATURAL}: {q['plan_natural']}), "
            f"{q['inprocess_sqlite3_indexed_ms']:.2f} ms ({INDEXED}: {q['plan_indexed']})"
        )
    s = result.get("size")
    if s:
        print(
            f"size: {s['bytes_per_capture']:.0f} bytes per capture for "
            f"{s['raw_bytes_per_capture']:.0f} raw bytes ({s['file_vs_raw']:.2f}x; the record "
            f"JSON without raw: {s['record_json_bytes_per_capture']:.0f})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--captures", type=int, default=1_000_000)
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of full load")
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--keep", type=Path, default=None, help="generate into / reuse this file")
    ap.add_argument("--only", action="append", choices=PARTS)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    parts = set(args.only or PARTS)
    result: dict[str, Any] = {"cpus": os.cpu_count(), "load_average": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        work = Path(tmp)
        if "record" in parts:
            result["record"] = measure_record(args.duration, work)
        if parts & {"query", "size"}:
            db = args.keep or work / "archive.db"
            if not db.exists():
                result["generate"] = generate(db, args.captures)
            if "query" in parts:
                result["query"] = measure_query(db, args.runs)
            if "size" in parts:
                result["size"] = measure_size(db)
    result["load_average_end"] = os.getloadavg()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        report(result)


if __name__ == "__main__":
    main()
