"""stats figures against numbers computed independently from the same captures."""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from ngrok_inspect.models import CapturedRequest
from ngrok_inspect.stats import DurationStats, compute_stats, percentile
from tests.cli_invoke import run_cli


def load(fixtures_dir: Path, name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((fixtures_dir / name).read_text())["requests"]
    return data


def independent(raw: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures straight from the agent's JSON, without the library's models."""
    done = [d for d in raw if d.get("response")]
    ms = sorted(d["duration"] / 1e6 for d in done)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    codes = [d["response"]["status_code"] for d in done]
    errors = [d for d in raw if not d.get("response") or d["response"]["status_code"] >= 400]
    return {
        "methods": Counter(d["request"]["method"] for d in raw),
        "classes": Counter(f"{c // 100}xx" for c in codes),
        "codes": Counter(codes),
        "paths": Counter(urlsplit(d["request"]["uri"]).path for d in raw),
        "avg": statistics.fmean(ms),
        "p50": statistics.median(ms),
        "p95": q[94],
        "p99": q[98],
        "max": max(ms),
        "errors": errors,
    }


def test_recorded_capture_figures(fixtures_dir: Path) -> None:
    raw = load(fixtures_dir, "requests.json")
    exp = independent(raw)
    stats = compute_stats([CapturedRequest.from_api(d) for d in raw], top=3)
    assert stats.total == len(raw) == 12
    assert stats.pending == 0
    assert stats.by_method == dict(exp["methods"])
    assert list(stats.by_method) == sorted(exp["methods"], key=lambda m: (-exp["methods"][m], m))
    assert stats.by_status_class == {k: exp["classes"][k] for k in sorted(exp["classes"])}
    assert stats.by_status == dict(sorted(exp["codes"].items()))
    assert stats.by_status[404] == 1 and stats.by_status[500] == 1
    # top paths: count desc, then path; "/" got two requests (?conn=1 and ?conn=2)
    expected_top = sorted(exp["paths"].items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    assert stats.top_paths == expected_top
    assert stats.top_paths[0] == ("/", 2)
    assert stats.durations.count == 12
    assert stats.durations.avg == pytest.approx(exp["avg"])
    assert stats.durations.p50 == pytest.approx(exp["p50"])
    assert stats.durations.p95 == pytest.approx(exp["p95"])
    assert stats.durations.p99 == pytest.approx(exp["p99"])
    assert stats.durations.max == pytest.approx(exp["max"])
    assert stats.error_count == len(exp["errors"]) == 2
    recent_ids = [
        d["id"] for d in sorted(exp["errors"], key=lambda d: (d["start"], d["id"]), reverse=True)
    ]
    assert [r.id for r in stats.recent_errors] == recent_ids
    assert [t.to_dict() for t in stats.by_tunnel] == [
        {"tunnel": "web", "requests": 12, "errors": 2}
    ]
    # the slowest paths: sorted by p95, each path's figures over its own entries
    slow = stats.slowest_paths
    assert len(slow) == 3
    p95s = [p.durations.p95 or 0 for p in slow]
    assert p95s == sorted(p95s, reverse=True)
    for pd in slow:
        own = sorted(
            d["duration"] / 1e6 for d in raw if urlsplit(d["request"]["uri"]).path == pd.path
        )
        assert pd.durations.max == pytest.approx(own[-1])
        assert pd.durations.count == len(own)
    by_path: dict[str, list[float]] = {}
    for d in raw:
        by_path.setdefault(urlsplit(d["request"]["uri"]).path, []).append(d["duration"] / 1e6)

    def p95(values: list[float]) -> float:
        v = sorted(values)
        return v[0] if len(v) == 1 else statistics.quantiles(v, n=100, method="inclusive")[94]

    expected_slow = sorted(by_path, key=lambda p: (-p95(by_path[p]), -max(by_path[p]), p))[:3]
    assert [p.path for p in slow] == expected_slow


def test_to_dict_is_json_and_complete(fixtures_dir: Path) -> None:
    raw = load(fixtures_dir, "requests.json")
    d = compute_stats([CapturedRequest.from_api(x) for x in raw], top=2).to_dict()
    json.dumps(d)
    assert set(d) == {
        "total", "pending", "failed", "first", "last", "by_method", "by_status_class",
        "by_status", "top_paths", "by_tunnel", "errors", "duration", "slowest_paths",
    }  # fmt: skip
    assert d["by_status"]["404"] == 1
    assert set(d["duration"]) == {"count", "avg_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms"}
    assert len(d["top_paths"]) == 2 and len(d["slowest_paths"]) == 2
    assert d["errors"]["count"] == 2
    assert set(d["errors"]["recent"][0]) == {
        "id",
        "start",
        "status_code",
        "method",
        "path",
        "error",
    }
    assert d["first"] <= d["last"]


def test_pending_entries_are_counted_but_not_timed(fixtures_dir: Path) -> None:
    raw = load(fixtures_dir, "requests.json")
    pending = dict(raw[0], response=None)
    reqs = [CapturedRequest.from_api(x) for x in [pending, *raw[1:]]]
    stats = compute_stats(reqs)
    assert stats.pending == 1
    assert stats.by_status_class.get("pending") == 1
    assert stats.durations.count == 11
    assert stats.error_count == 3  # no response counts as an error
    assert any(r.status_code is None for r in stats.recent_errors)


def test_empty_set() -> None:
    stats = compute_stats([])
    assert stats.total == 0
    assert stats.durations == DurationStats(0, None, None, None, None, None)
    d = stats.to_dict()
    assert d["duration"]["p95_ms"] is None and d["top_paths"] == [] and d["first"] is None


@pytest.mark.parametrize("n", [1, 2, 3, 7, 20, 101])
def test_percentile_matches_statistics(n: int) -> None:
    values = sorted((i * 37 % 101) / 3 for i in range(n))
    if n == 1:
        assert percentile(values, 95) == values[0]
        return
    q = statistics.quantiles(values, n=100, method="inclusive")
    for p in (1, 50, 95, 99):
        assert percentile(values, p) == pytest.approx(q[p - 1])
    assert percentile(values, 0) == values[0] and percentile(values, 100) == values[-1]


def test_cli_stats_json_matches_the_library(
    capsys: pytest.CaptureFixture[str], fixture_agent: Any, fixtures_dir: Path
) -> None:
    code, out, err = run_cli(
        capsys, "--api-url", fixture_agent.url, "stats", "--json", "--top", "5"
    )
    assert code == 0, err
    raw = load(fixtures_dir, "requests.json")
    expected = compute_stats([CapturedRequest.from_api(d) for d in raw], top=5).to_dict()
    assert json.loads(out) == expected
    assert err == ""


def test_cli_stats_filtered_piped_is_plain(
    capsys: pytest.CaptureFixture[str], fixture_agent: Any
) -> None:
    code, out, err = run_cli(capsys, "--api-url", fixture_agent.url, "stats", "--errors")
    assert code == 0, err
    assert "\x1b[" not in out  # piped: no colour
    assert not set(out) & set("─━│┃┌┐└┘")  # and no box drawing
    rows = [line.split("\t") for line in out.splitlines()]
    assert rows[0] == ["requests", "2"]
    assert {r[1] for r in rows if r[0] == "path"} == {"/boom", "/does-not-exist"}
    assert sorted(r[2] for r in rows if r[0] == "error") == ["404", "500"]
    assert all(len(r[5]) == 32 for r in rows if r[0] == "error")  # whole ids


def test_cli_stats_on_a_terminal_keeps_ids_whole_at_80_and_200(fixture_agent: Any) -> None:
    from tests.cli_invoke import invoke

    for columns in ("80", "200"):
        env = {"FORCE_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": columns}
        r = invoke(["stats", "--errors", "--no-color", "--api-url", fixture_agent.url], env=env)
        assert r.exit_code == 0, r.stderr
        text = re.sub(r"\x1b\[[0-9;]*m", "", r.stdout)
        for title in ("Summary", "Duration", "By method", "By status", "Top paths", "Recent"):
            assert title in text
        ids = re.findall(r"airt_[0-9A-Za-z]+", text)
        assert len(ids) == 2 and all(len(i) == 32 for i in ids)
        assert all(len(line) <= int(columns) for line in text.splitlines())


def test_cli_stats_json_is_compact_piped_and_indented_on_a_terminal(fixture_agent: Any) -> None:
    from tests.cli_invoke import invoke

    piped = invoke(["stats", "--json", "--api-url", fixture_agent.url])
    assert piped.stdout.count("\n") == 1
    tty = invoke(["stats", "--json", "--api-url", fixture_agent.url], env={"FORCE_COLOR": "1"})
    assert tty.stdout.startswith("{\n  ")
    assert json.loads(tty.stdout) == json.loads(piped.stdout)


def test_cli_stats_nothing_matches(capsys: pytest.CaptureFixture[str], fixture_agent: Any) -> None:
    code, out, err = run_cli(
        capsys, "--api-url", fixture_agent.url, "stats", "--where", "status == 999"
    )
    assert (code, out) == (0, "")
    assert err.startswith("No captured requests matching ")


def test_cli_stats_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "--api-url", "127.0.0.1:9", "stats", "--status", "abc")
    assert (code, out) == (2, "")
    assert "invalid status 'abc'" in err
    code, out, err = run_cli(capsys, "--api-url", "127.0.0.1:9", "stats")
    assert (code, out) == (3, "")
    assert err.startswith("Error: no ngrok agent at http://127.0.0.1:9")
