"""Every error about the agent names its address and where that address came from.

A newcomer whose commands talk to the wrong agent (another one on 4040, a stale
NGROK_INSPECT_API_URL, an old ngrok.yml) must see which address was used and why.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from ngrok_inspect.client import AgentClient
from ngrok_inspect.errors import AgentUnreachableError, RequestNotFoundError
from ngrok_inspect.settings import resolve_settings
from tests.cli_invoke import invoke

EXE = str(Path(sys.executable).with_name("ngrok-inspect"))

COMMANDS = [
    (["status"], 3),
    (["requests", "list"], 3),
    (["requests", "show", "last"], 3),
    (["export", "--format", "har"], 3),
    (["stats"], 3),
    (["clear", "--yes"], 3),
    (["replay", "last"], 3),
    (["verify", "last", "--secret", "s"], 3),
    (["wait", "--timeout", "0.3s"], 6),
]


def _source(kind: str, url: str, home: Path) -> tuple[list[str], dict[str, str], str]:
    """Global args, environment and the expected origin text for one address source."""
    if kind == "flag":
        return ["--api-url", url], {}, "address from --api-url"
    if kind == "env":
        return [], {"NGROK_INSPECT_API_URL": url}, "address from NGROK_INSPECT_API_URL"
    # the OS default ngrok.yml (the hermetic XDG_CONFIG_HOME), as ngrok itself writes it
    cfg = home / ".config" / "ngrok" / "ngrok.yml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f'version: "3"\nagent:\n  web_addr: {url.split("//")[1]}\n')
    return [], {}, f"address from web_addr in {cfg}"


@pytest.mark.parametrize("kind", ["flag", "env", "config"])
@pytest.mark.parametrize(("cmd", "code"), COMMANDS, ids=[" ".join(c) for c, _ in COMMANDS])
def test_unreachable_agent_errors_name_the_address_and_its_origin(
    broken_server: Callable[[str], str],
    hermetic_env: Path,
    kind: str,
    cmd: list[str],
    code: int,
) -> None:
    url = broken_server("refuse")
    global_args, env, origin = _source(kind, url, hermetic_env)
    r = invoke([*global_args, *cmd], env=env)
    assert r.exit_code == code, r.stderr
    assert r.stdout == ""
    error = next(line for line in r.stderr.splitlines() if line.startswith("Error: "))
    assert url in error and origin in error, r.stderr
    assert "connection refused" in error


def test_the_wait_banner_and_timeout_name_the_agent_watched(local_agent: Any) -> None:
    # a real agent with real traffic, just not the traffic waited for
    requests.get(local_agent.public_url + "/other", timeout=10)
    env = {"NGROK_INSPECT_API_URL": local_agent.api_url}
    r = invoke(["wait", "--path", "/never", "--timeout", "0.3s"], env=env)
    assert r.exit_code == 6 and r.stdout == ""
    agent = f"{local_agent.api_url} (address from NGROK_INSPECT_API_URL)"
    banner, error = r.stderr.splitlines()[:2]
    assert banner.startswith(
        f"Waiting up to 0.3s for 1 new request matching path /never at {agent}"
    )
    assert error == (
        "Error: timed out after 0.3s waiting for 1 request matching path /never "
        f"(new since the wait began) at {agent}: 0 matched"
    )


def test_not_found_names_the_agent_that_was_asked(local_agent: Any, hermetic_env: Path) -> None:
    requests.get(local_agent.public_url + "/hello", timeout=10)
    global_args, env, origin = _source("config", local_agent.api_url, hermetic_env)
    r = invoke([*global_args, "requests", "show", "airt_nope"], env=env)
    assert r.exit_code == 4
    assert r.stderr.splitlines()[0] == (
        f"Error: no captured request with id 'airt_nope'; agent {local_agent.api_url}, {origin}"
    )
    r = invoke([*global_args, "requests", "list", "--tunnel", "web"], env=env)
    assert r.exit_code == 4
    assert r.stderr.splitlines()[0] == (
        "Error: no tunnel named 'web' (tunnels: command_line); "
        f"agent {local_agent.api_url}, {origin}"
    )


def test_an_agent_error_names_the_agent(broken_server: Callable[[str], str]) -> None:
    url = broken_server("html500")
    r = invoke(["requests", "list"], env={"NGROK_INSPECT_API_URL": url})
    assert r.exit_code == 5
    assert r.stderr.startswith(f"Error: unreadable answer from {url}/api/requests/http")
    assert r.stderr.splitlines()[0].endswith("; address from NGROK_INSPECT_API_URL")


def test_the_flag_wins_over_the_variable_and_says_so(broken_server: Callable[[str], str]) -> None:
    flag, env = broken_server("refuse"), broken_server("refuse")
    r = invoke(["--api-url", flag, "status"], env={"NGROK_INSPECT_API_URL": env})
    first = r.stderr.splitlines()[0]
    assert flag in first and env not in first and first.endswith("; address from --api-url")


def test_follow_says_which_agent_is_not_answering(broken_server: Callable[[str], str]) -> None:
    url = broken_server("refuse")
    env = {**os.environ, "NGROK_INSPECT_API_URL": url}
    proc = subprocess.Popen(
        [EXE, "requests", "list", "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # the follower's first notice: the agent is down
        assert line.startswith(f"-- agent is not answering (no ngrok agent at {url} ")
        assert "address from NGROK_INSPECT_API_URL" in line
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
        assert out == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def test_settings_origin_for_each_source(tmp_path: Path) -> None:
    assert resolve_settings(api_url="4041", env={}).origin == "address from --api-url"
    env = {"NGROK_INSPECT_API_URL": "4042"}
    assert resolve_settings(env=env).origin == "address from NGROK_INSPECT_API_URL"
    cfg = tmp_path / "ngrok.yml"
    cfg.write_text("web_addr: 4043\n")
    assert resolve_settings(config=str(cfg), env={}).origin == f"address from web_addr in {cfg}"
    cfg.write_text("authtoken: x\n")
    assert resolve_settings(config=str(cfg), env={}).origin == "the default address"


def test_library_client_names_the_origin_only_when_told(
    broken_server: Callable[[str], str],
) -> None:
    url = broken_server("refuse")
    with pytest.raises(AgentUnreachableError) as e, AgentClient(url) as client:
        client.status()
    assert e.value.message == f"no ngrok agent at {url} (connection refused)"
    with (
        pytest.raises(AgentUnreachableError) as e,
        AgentClient(url, origin="the default address") as client,
    ):
        client.status()  # status() falls back on root(): still named once
    assert e.value.message == f"no ngrok agent at {url} (connection refused); the default address"
    assert str(e.value) == e.value.message


def test_not_found_from_the_library_client(fixture_agent: Any) -> None:
    client = AgentClient(fixture_agent.url, origin="address from --api-url")
    with client, pytest.raises(RequestNotFoundError) as e:
        client.resolve_id("airt_zzzzzz")
    assert e.value.message.endswith(f"; agent {fixture_agent.url}, address from --api-url")
