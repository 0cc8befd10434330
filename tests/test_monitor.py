"""``ngrok-inspect monitor`` end to end: live traffic through the local agent.

Exact threshold behaviour (alert above, not at, the threshold; counting by id across
clear and eviction) is checked step by step in test_watch.py with an injected interval
length; here the command runs on a short real interval while a sender keeps traffic going.
"""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli_invoke import run_cli


def public(agent: Any) -> str:
    return str(agent.tunnels[0].public_url).rstrip("/")


@contextlib.contextmanager
def traffic(url: str, pause: float = 0.05) -> Iterator[None]:
    """GET ``url`` over and over in a thread while the block runs."""
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            with contextlib.suppress(urllib.error.URLError, OSError):
                urllib.request.urlopen(url, timeout=5).read()
            stop.wait(pause)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(10)


def test_monitor_alerts_on_error_rate_with_exec_and_json(
    capsys: pytest.CaptureFixture[str], local_agent: Any, tmp_path: Path
) -> None:
    sink = tmp_path / "alerts.ndjson"
    with traffic(public(local_agent) + "/boom"):
        code, out, err = run_cli(
            capsys,
            "--api-url", local_agent.api_url,
            "monitor", "--interval", "1s", "--intervals", "2", "--max-error-rate", "10%",
            "--exec", f"cat >> {sink}", "--json",
        )  # fmt: skip
    assert code == 0, err
    objs = [json.loads(line) for line in out.splitlines()]
    intervals = [o for o in objs if o["type"] == "interval"]
    alerts = [o for o in objs if o["type"] == "alert"]
    tunnel = local_agent.tunnels[0].name
    assert {o["tunnel"] for o in intervals} == {tunnel}
    assert len(intervals) == 2
    busy = [o for o in intervals if o["requests"]]
    assert busy and all(o["error_rate"] == 1.0 and o["errors"] == o["requests"] for o in busy)
    assert alerts and all(a["metric"] == "error_rate" and a["threshold"] == 0.1 for a in alerts)
    assert alerts[0]["recent_errors"][0]["path"] == "/boom"
    assert f"ALERT {tunnel}: error rate 100.0% > 10.0%" in err
    assert "recent errors: 500 GET /boom" in err
    received = [json.loads(line) for line in sink.read_text().splitlines()]
    assert len(received) == len(alerts)
    assert received[0]["tunnel"] == tunnel and received[0]["metric"] == "error_rate"


def test_monitor_exit_on_alert(capsys: pytest.CaptureFixture[str], local_agent: Any) -> None:
    with traffic(public(local_agent) + "/search?q=x", pause=0.02):
        code, out, err = run_cli(
            capsys,
            "--api-url", local_agent.api_url,
            "monitor", "--interval", "1s", "--intervals", "5", "--max-rate", "1",
            "--exit-on-alert",
        )  # fmt: skip
    assert code == 6
    lines = out.splitlines()
    assert 1 <= len(lines) <= 5
    assert "req/min" in lines[-1]
    assert "request rate" in err and "> 1/min" in err
    assert err.rstrip().splitlines()[-2].startswith("Error: alert on tunnel")


def test_monitor_quiet_when_below_thresholds(
    capsys: pytest.CaptureFixture[str], local_agent: Any
) -> None:
    with traffic(public(local_agent) + "/search?q=ok", pause=0.1):
        code, out, err = run_cli(
            capsys,
            "--api-url", local_agent.api_url,
            "monitor", "--interval", "0.5s", "--intervals", "2",
            "--max-error-rate", "0.5", "--max-rate", "100000",
        )  # fmt: skip
    assert code == 0, err
    assert "ALERT" not in err
    lines = out.splitlines()
    assert len(lines) == 2
    assert all("errors   0.0%" in line for line in lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interval", "0"], "--interval must be longer than 0s"),
        (["--interval", "often"], "invalid --interval 'often'"),
        (["--max-error-rate", "2"], "invalid error rate '2'"),
        (["--where", "(status"], "invalid --where expression"),
    ],
)
def test_monitor_bad_input(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run_cli(capsys, "--api-url", "127.0.0.1:9", "monitor", *args)
    assert code == 2
    assert out == ""
    assert message in err


def test_monitor_banner_and_alert_in_colour_on_a_terminal(
    capsys: pytest.CaptureFixture[str], local_agent: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    with traffic(public(local_agent) + "/boom"):
        code, _, err = run_cli(
            capsys,
            "--api-url", local_agent.api_url,
            "monitor", "--interval", "1s", "--max-error-rate", "10%", "--min-requests", "1",
            "--exit-on-alert",
        )  # fmt: skip
    assert code == 6, err
    first = err.splitlines()[0]
    assert first.startswith(f"Monitoring all tunnels at {local_agent.api_url}, every 1s")
    assert "10% errors (from 1 requests on); first figures in 1s" in first
    assert "\x1b[1;31mALERT\x1b[0m " in err
