"""``ngrok-inspect import`` of a large HAR: peak memory (RSS) against the file's size, in one
run, each measurement a fresh process (``os.wait4`` gives that child's own peak RSS).

For each size the script writes a HAR (Chrome-like entries: 14 request and 10 response
headers, a text body of 1-60 kB, every tenth a base64 PNG of 20 kB) and measures:

* **import**: ``ngrok-inspect import FILE --db DB`` (entry by entry, batches of rows);
* **start-up**: the same command on a one-entry HAR (interpreter + package, the floor);
* **json.load**: a bare ``python -c "json.load(open(FILE, 'rb'))"``, what any reader that
  parses the whole file holds before converting anything (the importer before the
  streaming reader did this, then built every capture before storing);
* with ``--previous REV``: that revision's ``archive/importing.py`` run against the
  installed package (``git show REV:...``), e.g. the whole-file importer, for a direct
  before/after.

Usage::

    .venv/bin/python bench/bench_import.py                     # 25, 100 and 400 MB
    .venv/bin/python bench/bench_import.py --sizes 25,100 --previous 40fbf3a
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BIN = str(Path(sys.executable).with_name("ngrok-inspect"))
ROOT = Path(__file__).resolve().parent.parent
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 80).decode()


def _entry(n: int) -> dict[str, Any]:
    size = 1000 + (n * 7919) % 59000
    text = (f"<p>entry {n}</p>" + "lorem ipsum dolor sit amet " * (size // 27 + 1))[:size]
    png = n % 10 == 0
    headers = [
        (":authority", "app.example.test"),
        (":method", "GET"),
        (":path", f"/page/{n}?q={n % 97}"),
        (":scheme", "https"),
        ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
        ("accept-encoding", "gzip, deflate, br"),
        ("accept-language", "en-US,en;q=0.9"),
        ("cache-control", "no-cache"),
        ("cookie", f"session={n:032x}; theme=dark"),
        ("pragma", "no-cache"),
        ("referer", "https://app.example.test/"),
        ("sec-fetch-mode", "navigate"),
        ("upgrade-insecure-requests", "1"),
        ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0"),
    ]
    rheaders = [
        ("cache-control", "private, max-age=0"),
        ("content-type", "image/png" if png else "text/html; charset=utf-8"),
        ("date", "Wed, 02 Dec 2026 03:00:00 GMT"),
        ("etag", f'"{n:016x}"'),
        ("server", "nginx"),
        ("strict-transport-security", "max-age=63072000"),
        ("vary", "Accept-Encoding"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "SAMEORIGIN"),
        ("x-request-id", f"{n:024x}"),
    ]
    content: dict[str, Any] = (
        {"size": 20488, "mimeType": "image/png", "text": PNG, "encoding": "base64"}
        if png
        else {"size": len(text), "mimeType": "text/html", "text": text}
    )
    return {
        "startedDateTime": f"2026-12-01T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z",
        "time": 12.5 + n % 100,
        "request": {
            "method": "GET",
            "url": f"https://app.example.test/page/{n}?q={n % 97}",
            "httpVersion": "http/2.0",
            "cookies": [],
            "headers": [{"name": k, "value": v} for k, v in headers],
            "queryString": [{"name": "q", "value": str(n % 97)}],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": {
            "status": 200,
            "statusText": "",
            "httpVersion": "http/2.0",
            "cookies": [],
            "headers": [{"name": k, "value": v} for k, v in rheaders],
            "content": content,
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        },
        "cache": {},
        "timings": {"send": 0.1, "wait": 10, "receive": 2.4},
    }


def write_har(path: Path, megabytes: float) -> int:
    """A HAR of about ``megabytes`` MB, written entry by entry; its number of entries."""
    target = int(megabytes * 1_000_000)
    n = 0
    with path.open("w") as f:
        f.write('{"log": {"version": "1.2", "creator": {"name": "bench", "version": "1"},')
        f.write(' "pages": [], "entries": [\n')
        while f.tell() < target or n == 0:
            f.write((",\n" if n else "") + json.dumps(_entry(n), indent=1))
            n += 1
        f.write("\n]}}\n")
    return n


def peak(cmd: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of one fresh process; it must succeed."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        sys.exit(f"{cmd[:3]} failed ({proc.returncode}): {err}")
    return usage.ru_maxrss / 1024, took  # ru_maxrss is in KiB on Linux


def previous_importer(rev: str, tmp: Path) -> Path:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:ngrok_inspect/archive/importing.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = tmp / "previous_importing.py"
    path.write_text(source)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="25,100,400", help="HAR sizes in MB (comma-separated)")
    ap.add_argument("--previous", metavar="REV", help="also run REV's archive/importing.py")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-import-") as d:
        tmp = Path(d)
        tiny = tmp / "tiny.har"
        write_har(tiny, 0)
        old = previous_importer(args.previous, tmp) if args.previous else None
        base, _ = peak([BIN, "import", str(tiny), "--db", str(tmp / "tiny.sqlite")])
        print(f"load average {os.getloadavg()[0]:.2f} (2 cores, shared machine)")
        print(f"start-up (one-entry HAR): peak RSS {base:.0f} MB")
        head = (
            f"{'file MB':>8} {'entries':>8} {'import RSS':>11} {'above start':>12}"
            f" {'json.load RSS':>14} {'import s':>9} {'MB/s':>6}"
        )
        print(head + (f" {'previous RSS':>13} {'previous s':>11}" if old else ""))
        for mb in (float(s) for s in args.sizes.split(",")):
            har = tmp / f"{mb:g}.har"
            entries = write_har(har, mb)
            size = har.stat().st_size / 1e6
            rss, took = peak([BIN, "import", str(har), "--db", str(tmp / f"{mb:g}.sqlite")])
            loaded, _ = peak([sys.executable, "-c", LOAD, str(har)])
            line = (
                f"{size:8.0f} {entries:8d} {rss:9.0f} MB {rss - base:9.0f} MB"
                f" {loaded:11.0f} MB {took:9.1f} {size / took:6.1f}"
            )
            if old:
                db = tmp / f"{mb:g}-previous.sqlite"
                prss, ptook = peak([sys.executable, "-c", PREVIOUS, str(old), str(har), str(db)])
                line += f" {prss:10.0f} MB {ptook:11.1f}"
            print(line, flush=True)
            har.unlink()


LOAD = "import json, sys; json.load(open(sys.argv[1], 'rb'))"
PREVIOUS = (
    "import importlib.util, sys\n"
    "spec = importlib.util.spec_from_file_location('previous_importing', sys.argv[1])\n"
    "mod = sys.modules['previous_importing'] = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(mod)\n"
    "mod.import_file(sys.argv[2], sys.argv[3])\n"
)

if __name__ == "__main__":
    main()
