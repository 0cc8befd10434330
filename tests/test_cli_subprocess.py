"""The installed ``ngrok-inspect`` script in real processes: pipes, jq, python -m."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import WEBHOOK_ID, FixtureAgentServer

BIN = Path(sys.executable).with_name("ngrok-inspect")
JQ = shutil.which("jq")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("FORCE_COLOR", None)
    return env


def run(*args: str, shell: bool = False) -> subprocess.CompletedProcess[str]:
    cmd: str | list[str] = args[0] if shell else [str(BIN), *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=60, shell=shell, env=_env(), check=False
    )


def test_installed_script_lists_as_plain_text(fixture_agent: FixtureAgentServer) -> None:
    p = run("requests", "list", "--api-url", fixture_agent.url)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("\n") == 12
    assert "\x1b[" not in p.stdout  # piped: no colour, no table
    assert p.stderr == ""


@pytest.mark.skipif(JQ is None, reason="jq not installed")
def test_json_into_jq(fixture_agent: FixtureAgentServer) -> None:
    p = run(
        f"'{BIN}' requests list --api-url {fixture_agent.url} --status 2xx --json"
        " | jq -r '.[] | select(.method == \"POST\") | .id'",
        shell=True,
    )
    assert p.returncode == 0, p.stderr
    posts = [e["id"] for e in fixture_agent.current_list() if e["request"]["method"] == "POST"]
    assert p.stdout.split() == posts
    assert WEBHOOK_ID in p.stdout.split()
    p = run(
        f"'{BIN}' requests show {WEBHOOK_ID} --body request --api-url {fixture_agent.url}"
        " | jq -c .nested",
        shell=True,
    )
    assert p.stdout == '{"ok":true}\n'


def test_python_dash_m(fixture_agent: FixtureAgentServer) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "ngrok_inspect", "status", "--json", "--api-url", fixture_agent.url],
        capture_output=True, text=True, timeout=60, check=False, env=_env(),
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["status"] == "online"


def test_exit_codes_in_a_real_process(fixture_agent: FixtureAgentServer) -> None:
    p = run("requests", "show", "airt_nope", "--api-url", fixture_agent.url)
    assert (p.returncode, p.stdout) == (4, "")
    assert p.stderr.startswith(
        f"Error: no captured request with id 'airt_nope'; agent {fixture_agent.url}, "
        "address from --api-url\n"
    )
    p = run("clear", "--api-url", fixture_agent.url)
    assert p.returncode == 2  # stdin is not a terminal and no --yes
    p = run("status", "--api-url", "127.0.0.1:1")
    assert p.returncode == 3
    assert "Traceback" not in p.stderr


def test_closed_pipe_is_quiet(fixture_agent: FixtureAgentServer) -> None:
    p = run(
        f"'{BIN}' requests show {WEBHOOK_ID} --raw --api-url {fixture_agent.url} | head -c 10;"
        f" '{BIN}' requests list --json --api-url {fixture_agent.url} | head -c 5",
        shell=True,
    )
    assert p.returncode == 0
    assert p.stdout == 'POST /webh[{"id'
    assert p.stderr == ""
