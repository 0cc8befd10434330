"""Faults of issue 9 ("never a traceback, never a lie") against hostile servers on 127.0.0.1.

Each test drives a deliberately broken server and asserts the exit code and the message;
a subprocess timeout is only a guard against a hang, never the assertion.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ngrok_inspect.client import AgentClient
from ngrok_inspect.errors import AgentTimeoutError, ExitCode
from tests.cli_invoke import invoke

BIN = Path(sys.executable).with_name("ngrok-inspect")
HANG_GUARD = 60  # seconds: only so that a regression fails instead of hanging the suite


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("NGROK", "FORCE_COLOR"))}


@pytest.mark.parametrize("mode", ["trickle", "trickle_headers"])
def test_api_timeout_is_a_deadline_for_the_whole_call(
    broken_server: Callable[[str], str], mode: str
) -> None:
    # one byte every 20 ms never trips a 0.5 s read timeout: only the deadline ends it
    url = broken_server(mode)
    with AgentClient(url, timeout=0.5) as client, pytest.raises(AgentTimeoutError) as e:
        client.list_requests()
    err = e.value
    assert err.exit_code == ExitCode.UNREACHABLE and err.timeout == 0.5
    assert err.received > 0  # it was answering, slowly: the message says so
    assert err.message == (
        f"the agent at {url} sent only {err.received} bytes of its answer within 0.5s"
    )


def test_a_silent_agent_still_reads_as_no_answer(broken_server: Callable[[str], str]) -> None:
    url = broken_server("hang")
    with AgentClient(url, timeout=0.3) as client, pytest.raises(AgentTimeoutError) as e:
        client.tunnels()
    assert e.value.received == 0
    assert "accepted the connection but gave no answer within 0.3s" in e.value.message


@pytest.mark.parametrize(
    "spelling",
    [
        ["--api-timeout", "0.5", "requests", "list"],
        ["--timeout", "0.5", "requests", "list"],  # the old spelling, before the command
        ["requests", "list", "--api-timeout", "0.5"],
    ],
)
def test_trickling_agent_fails_the_installed_command_in_time(
    broken_server: Callable[[str], str], spelling: list[str]
) -> None:
    url = broken_server("trickle")
    p = subprocess.run(
        [str(BIN), "--api-url", url, *spelling],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        env=_env(),
        check=False,
    )
    assert p.returncode == 3, p.stderr
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    assert len(lines) == 2, p.stderr
    assert lines[0].startswith(f"Error: the agent at {url} sent only ")
    assert lines[0].endswith(" of its answer within 0.5s")
    assert lines[1] == "The agent may be busy or hung; raise --api-timeout or restart the agent"


def test_trickling_agent_in_process(broken_server: Callable[[str], str]) -> None:
    r = invoke(["--api-timeout", "0.4", "--api-url", broken_server("trickle_headers"), "status"])
    assert r.exit_code == 3 and r.stdout == ""
    assert " of its answer within 0.4s" in r.stderr.splitlines()[0]
