"""Cost of the filter language against a hand-written Python floor, and of a follow poll
against the bare list call it wraps.

Run: .venv/bin/python bench/bench_filters.py

Every figure is a ratio measured in the same run on the same machine:
* plain flags (method + status + path glob) vs a lambda doing the same comparisons;
* a --where expression reading the JSON body vs a lambda reading the same fields;
* Poller.poll() with nothing new vs AgentClient.list_requests(limit=20) on the local agent.
"""

from __future__ import annotations

import copy
import json
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable
from fnmatch import fnmatchcase
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ngrok_inspect.client import AgentClient  # noqa: E402
from ngrok_inspect.filters import RequestFilter  # noqa: E402
from ngrok_inspect.local_agent import LocalAgent  # noqa: E402
from ngrok_inspect.models import CapturedRequest  # noqa: E402
from ngrok_inspect.watch import Poller  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "agent-2.3.41"


def best_of(fn: Callable[[], object], repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def fresh(raw: list[dict[str, object]], copies: int) -> list[CapturedRequest]:
    return [CapturedRequest.from_api(copy.deepcopy(d)) for _ in range(copies) for d in raw]


def main() -> None:
    raw = json.loads((FIXTURES / "requests.json").read_text())["requests"]
    reqs = fresh(raw, 200)  # 2400 entries
    n = len(reqs)

    plain = RequestFilter.parse(method="GET", status="2xx", path="/s*")

    def floor_plain() -> list[CapturedRequest]:
        return [
            r
            for r in reqs
            if r.method == "GET"
            and r.status_code is not None
            and 200 <= r.status_code <= 299
            and fnmatchcase(r.path, "/s*")
        ]

    assert plain.apply(reqs) == floor_plain()
    t_plain = best_of(lambda: plain.apply(reqs))
    t_floor = best_of(floor_plain)

    where = RequestFilter.parse(where='req.json.event == "push" and status >= 200')

    def floor_where(items: list[CapturedRequest]) -> list[CapturedRequest]:
        out = []
        for r in items:
            b = r.request.body
            if (
                b.is_json
                and isinstance(b.json, dict)
                and b.json.get("event") == "push"
                and r.status_code is not None
                and r.status_code >= 200
            ):
                out.append(r)
        return out

    # bodies decode once and are cached by the models: measure warm (both decoded)
    assert where.apply(reqs) == floor_where(reqs)
    t_where = best_of(lambda: where.apply(reqs))
    t_where_floor = best_of(lambda: floor_where(reqs))

    # cold: fresh models, the body is decoded during the filter
    t_cold = statistics.median(
        best_of(lambda: where.apply(fresh(raw, 20)), repeat=1) for _ in range(5)
    )
    t_cold_floor = statistics.median(
        best_of(lambda: floor_where(fresh(raw, 20)), repeat=1) for _ in range(5)
    )

    print(f"entries: {n}")
    print(
        f"plain flags: {t_plain / n * 1e6:.2f} us/entry, floor {t_floor / n * 1e6:.2f} us/entry,"
        f" ratio {t_plain / t_floor:.2f}"
    )
    print(
        f"--where (warm): {t_where / n * 1e6:.2f} us/entry, floor {t_where_floor / n * 1e6:.2f}"
        f" us/entry, ratio {t_where / t_where_floor:.2f}"
    )
    print(f"--where (cold, body decoded in the filter): ratio {t_cold / t_cold_floor:.2f}")

    # a poll with nothing new vs the list call it makes, on the local agent
    with LocalAgent(None) as agent:
        public = str(agent.tunnels[0].public_url)
        for i in range(200):
            urllib.request.urlopen(f"{public}/item/{i}").read()
        with AgentClient(agent.api_url) as client:
            poller = Poller(client, page=20)
            poller.poll()
            # right after a burst: a poll reaches down to the entries of the last second
            t_burst = best_of(lambda: [poller.poll() for _ in range(20)]) / 20
            time.sleep(2.2)
            urllib.request.urlopen(f"{public}/quiet").read()  # one entry, later second
            time.sleep(1.1)
            poller.poll()
            t_poll = best_of(lambda: [poller.poll() for _ in range(50)]) / 50
            t_list = best_of(lambda: [client.list_requests(limit=20) for _ in range(50)]) / 50
    print(
        f"idle poll: {t_poll * 1e3:.2f} ms, list_requests(limit=20): {t_list * 1e3:.2f} ms,"
        f" ratio {t_poll / t_list:.2f}"
    )
    print(
        f"poll with 200 entries in the last second: {t_burst * 1e3:.2f} ms,"
        f" ratio to list_requests(limit=20) {t_burst / t_list:.2f}"
    )


if __name__ == "__main__":
    main()
