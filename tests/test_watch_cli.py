"""The follow mode's output (run_follow, ``requests list --follow``) with real traffic."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ngrok_inspect.cli.cmd_follow import run_follow
from ngrok_inspect.cli.output import Output, OutputMode
from ngrok_inspect.client import AgentClient
from ngrok_inspect.filters import RequestFilter
from ngrok_inspect.watch import ManualClock
from tests.cli_invoke import invoke
from tests.support.live import send_traffic

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def public(agent: Any) -> str:
    return str(agent.tunnels[0].public_url).rstrip("/")


def get(url: str) -> None:
    with contextlib.suppress(urllib.error.HTTPError):
        urllib.request.urlopen(url, timeout=10).read()


def in_thread(fn: Callable[[], None]) -> Callable[[], None]:
    """An on_ready hook that runs ``fn`` in the background (the follower keeps polling)."""

    def start() -> None:
        threading.Thread(target=fn, daemon=True).start()

    return start


def test_run_follow_ndjson_across_a_clear(
    capsys: pytest.CaptureFixture[str], local_agent: Any
) -> None:
    url = public(local_agent)
    client = AgentClient(local_agent.api_url)

    def done_seq() -> int:
        return sum(
            1 for r in client.list_requests() if r.path.startswith("/seq/") and r.pending is False
        )

    # an injected clock drives the traffic in step with the polls, without threads or
    # real sleeps: 1-3 during the first sleep; the clear and 4-6 once 1-3 completed
    # (the follower has printed them by the next poll)
    step = 0

    def traffic(clock: ManualClock) -> None:
        nonlocal step
        if step == 0:
            for n in (1, 2, 3):
                get(f"{url}/seq/{n}")
            step = 1
        elif step == 1 and done_seq() >= 4:  # /seq/0 too
            step = 2
        elif step == 2:
            client.delete_requests()
            for n in (4, 5, 6):
                get(f"{url}/seq/{n}")
            step = 3
        assert len(clock.sleeps) < 100_000, "the follower never printed six entries"

    get(url + "/seq/0")  # before the start: not printed
    with client:
        run_follow(
            client,
            RequestFilter(paths=("/seq/*",)),
            Output(OutputMode.NDJSON),
            count=6,
            timeout=None,
            poll_interval=0.05,
            clock=ManualClock(on_sleep=traffic),
        )
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["path"] for r in records] == [f"/seq/{n}" for n in range(1, 7)]
    assert all(r["status_code"] is not None for r in records)  # completed entries only
    assert "-- the agent's history was cleared; following on" in err


def test_run_follow_plain_lines_when_piped(
    capsys: pytest.CaptureFixture[str], local_agent: Any
) -> None:
    url = public(local_agent)
    with AgentClient(local_agent.api_url) as client:
        run_follow(
            client,
            RequestFilter(methods=("GET",)),
            Output(OutputMode.PLAIN),
            count=2,
            timeout=30,
            poll_interval=0.05,
            on_ready=in_thread(lambda: [get(f"{url}/p/{n}") for n in (1, 2)] and None),
        )
    out, _ = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 2
    assert "\x1b[" not in out
    for n, line in enumerate(lines, 1):
        fields = line.split("\t")  # the same columns as 'requests list' piped
        assert fields[0].startswith("airt_")
        assert fields[3:6] == ["GET", f"/p/{n}", "200"]


@pytest.mark.parametrize("columns", [80, 120, 200])
def test_run_follow_rows_on_a_terminal_have_the_columns_of_requests_list(
    capsys: pytest.CaptureFixture[str],
    local_agent: Any,
    monkeypatch: pytest.MonkeyPatch,
    columns: int,
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", str(columns))
    url = public(local_agent)
    with AgentClient(local_agent.api_url) as client:
        run_follow(
            client,
            RequestFilter(),
            Output.open(no_color=False),  # FORCE_COLOR: a terminal
            count=12,
            timeout=30,
            poll_interval=0.05,
            on_ready=in_thread(lambda: send_traffic(url) and None),
        )
    out, _ = capsys.readouterr()
    header, *rows = ANSI.sub("", out).splitlines()
    assert "\x1b[" in out  # coloured
    listed = invoke(["requests", "list", "--api-url", local_agent.api_url])
    assert listed.exit_code == 0, listed.stderr
    list_header = ANSI.sub("", listed.stdout).splitlines()[0]
    # the same columns, names and order as 'requests list' at this width
    assert header.split() == list_header.split()
    assert "PATH" in header.split() and header.startswith("ID")
    ids = invoke(["requests", "list", "-q", "--api-url", local_agent.api_url]).stdout.split()
    assert [row.split()[0] for row in rows] == ids[::-1]  # whole ids, oldest first
    for row in rows:
        assert len(row) <= columns
    assert any(row.split()[2 if columns == 80 else 4].startswith("/search") for row in rows)
    boom = next(row for row in rows if "/boom" in row)
    assert " 500 " in boom


def test_run_follow_timeout_ends_quietly(
    capsys: pytest.CaptureFixture[str], local_agent: Any
) -> None:
    with AgentClient(local_agent.api_url) as client:
        run_follow(
            client, RequestFilter(), Output(OutputMode.NDJSON), count=None, timeout=0.3,
            poll_interval=0.05,
        )  # fmt: skip
    out, err = capsys.readouterr()
    assert (out, err) == ("", "")


def test_requests_list_follow_subprocess_ctrl_c_exits_130(local_agent: Any) -> None:
    exe = Path(sys.executable).parent / "ngrok-inspect"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NGROK")}
    proc = subprocess.Popen(
        [str(exe), "--api-url", local_agent.api_url, "requests", "list", "-f", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        # keep sending until the follower printed one (it starts after its own baseline)
        got = ""
        deadline = time.monotonic() + 30
        reader = threading.Thread(target=lambda: got_lines.append(proc.stdout.readline()))  # type: ignore[union-attr]
        got_lines: list[str] = []
        reader.start()
        while reader.is_alive() and time.monotonic() < deadline:
            get(public(local_agent) + "/ping")
            reader.join(0.2)
        got = got_lines[0] if got_lines else ""
        assert json.loads(got)["path"] == "/ping"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert "Traceback" not in err
