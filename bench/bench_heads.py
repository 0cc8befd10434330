"""What following pipelined heads costs the public side: ``HeadTracker`` vs aiohttp's parser.

Every byte a public connection receives goes through ``HeadTracker.feed`` before
aiohttp's request parser sees it (``local_agent/heads.py``). This times, in one run and
on the same bytes, the tracker's share of a request (feed, then ``parsed`` and
``waiting`` as the connection calls them) against the parser's (aiohttp's
``HttpRequestParser.feed_data``, C when built, as the agent uses it), for:

- a small GET head (one read), the common case;
- a 64 KiB POST in one read (head and body);
- a 16 MiB upload's body chunks (64 KiB reads) after its head;

and prints the tracker's time per request (µs) and as a share of the parser's.
Usage::

    .venv/bin/python bench/bench_heads.py [--rounds 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

from aiohttp.http_parser import HttpRequestParser

from ngrok_inspect.local_agent.heads import HeadTracker

GET = (
    b"GET /webhook?source=bench HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
    b"User-Agent: bench/1.0\r\nAccept: */*\r\nX-Request-Id: 0123456789abcdef\r\n\r\n"
)
BODY = os.urandom(64 * 1024 - 200)
POST = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY
CHUNK = os.urandom(64 * 1024)
UPLOAD_CHUNKS = 256  # 16 MiB


class _Protocol:
    """The little of a protocol aiohttp's parser touches."""

    def __init__(self) -> None:
        self.transport = None

    def pause_reading(self, **kwargs: Any) -> None:
        pass

    def resume_reading(self, **kwargs: Any) -> None:
        pass


def _parser(loop: asyncio.AbstractEventLoop) -> Any:
    return HttpRequestParser(_Protocol(), loop, 2**16, max_line_size=8190, max_field_size=8190)


def _best(fn: Callable[[], None], rounds: int) -> float:
    """Seconds per call: the best of 5 runs of ``rounds`` calls (a loaded machine)."""
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(rounds):
            fn()
        best = min(best, (time.perf_counter() - t0) / rounds)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20000)
    args = ap.parse_args()
    loop = asyncio.new_event_loop()
    done = lambda: True  # noqa: E731 - the connection's body_done, never asked here

    tracker = HeadTracker()
    parser = _parser(loop)

    def track(data: bytes, length: int | None) -> Callable[[], None]:
        def run() -> None:
            tracker.feed(data, done)
            tracker.parsed(length, False, False)
            tracker.waiting()

        return run

    def parse(data: bytes) -> Callable[[], None]:
        return lambda: parser.feed_data(data)

    upload_head = b"PUT /big HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000\r\n\r\n"
    up_tracker = HeadTracker()
    up_tracker.feed(upload_head, done)
    up_tracker.parsed(100_000_000_000, False, False)
    up_parser = _parser(loop)
    [(_, payload)], _, _ = up_parser.feed_data(upload_head)

    def track_upload() -> None:
        for _ in range(UPLOAD_CHUNKS):
            up_tracker.feed(CHUNK, done)

    def parse_upload() -> None:
        for _ in range(UPLOAD_CHUNKS):
            up_parser.feed_data(CHUNK)
            payload.read_nowait()  # what the proxy does: take the bytes on

    cases = [
        ("small GET head", track(GET, None), parse(GET), args.rounds),
        ("64 KiB POST, one read", track(POST, len(BODY)), parse(POST), args.rounds // 10),
        ("16 MiB upload body", track_upload, parse_upload, max(1, args.rounds // 1000)),
    ]
    print(f"load average {os.getloadavg()[0]:.2f} (2 cores, shared)")
    print(f"{'case':<24} {'tracker us':>10} {'parser us':>10} {'tracker/parser':>15}")
    for name, tracked, parsed, rounds in cases:
        t = _best(tracked, rounds) * 1e6
        p = _best(parsed, rounds) * 1e6
        print(f"{name:<24} {t:>10.2f} {p:>10.2f} {t / p:>14.1%}")
    loop.close()


if __name__ == "__main__":
    main()
