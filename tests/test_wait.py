"""``ngrok-inspect wait`` end to end: real traffic through the local agent."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from ngrok_inspect.local_agent import LocalAgent
from tests.cli_invoke import run_cli


def sender(url: str, *, method: str = "POST", body: dict[str, Any] | None = None) -> str:
    """A shell command (for --exec) that sends one request with this Python."""
    code = (
        "import json, sys, urllib.request, urllib.error\n"
        f"req = urllib.request.Request({url!r}, method={method!r}, "
        f"data=json.dumps({body!r}).encode() if {body is not None!r} else None, "
        "headers={'Content-Type': 'application/json', 'X-GitHub-Event': 'push'})\n"
        "try:\n    urllib.request.urlopen(req, timeout=10).read()\n"
        "except urllib.error.HTTPError:\n    pass\n"
        "print('sent', file=sys.stdout)\n"
    )
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def public(agent: Any) -> str:
    return str(agent.tunnels[0].public_url).rstrip("/")


def get(url: str) -> None:
    with contextlib.suppress(urllib.error.HTTPError):
        urllib.request.urlopen(url, timeout=10).read()


def test_wait_exec_then_match_json(capfd: pytest.CaptureFixture[str], local_agent: Any) -> None:
    # capfd: the trigger is another process writing to our stderr file descriptor
    cmd = sender(public(local_agent) + "/webhook?source=ci", body={"event": "push", "ref": "main"})
    code, out, err = run_cli(
        capfd,
        "--api-url", local_agent.api_url,
        "wait", "--method", "POST", "--path", "/webhook",
        "--header", "X-GitHub-Event: push",
        "--where", 'req.json.ref == "main"',
        "--exec", cmd, "--timeout", "20s", "--json",
    )  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 1  # only the record: the trigger's own output went to stderr
    record = json.loads(lines[0])
    assert record["path"] == "/webhook" and record["method"] == "POST"
    assert record["request"]["body"]["json"] == {"event": "push", "ref": "main"}
    assert "Waiting up to 20s for 1 new request matching method POST" in err
    assert "sent" in err


def test_wait_counts_only_new_unless_include_existing(
    capsys: pytest.CaptureFixture[str], local_agent: Any
) -> None:
    get(public(local_agent) + "/old")
    code, out, err = run_cli(
        capsys, "--api-url", local_agent.api_url, "wait", "--path", "/old", "--timeout", "0.5"
    )
    assert code == 6
    assert out == ""
    assert (
        "Error: timed out after 0.5s waiting for 1 request matching path /old "
        f"(new since the wait began) at {local_agent.api_url} (address from --api-url): "
        "0 matched"
    ) in err
    code, out, err = run_cli(
        capsys,
        "--api-url", local_agent.api_url,
        "wait", "--path", "/old", "--include-existing", "--timeout", "5",
    )  # fmt: skip
    assert code == 0, err
    fields = out.rstrip("\n").split("\t")  # the tab-separated line of 'requests list'
    assert fields[0].startswith("airt_") and fields[3:6] == ["GET", "/old", "200"]


def test_wait_count_two(capsys: pytest.CaptureFixture[str], local_agent: Any) -> None:
    one = sender(public(local_agent) + "/a", method="GET")
    two = sender(public(local_agent) + "/b", method="GET")
    code, out, err = run_cli(
        capsys,
        "--api-url", local_agent.api_url,
        "wait", "--count", "2", "--method", "GET", "--exec", f"{one} && {two}", "--timeout", "20",
    )  # fmt: skip
    assert code == 0, err
    assert [line.split("\t")[4] for line in out.splitlines()] == ["/a", "/b"]


def test_wait_expect_status_prints_the_offender(
    capsys: pytest.CaptureFixture[str], local_agent: Any
) -> None:
    code, out, err = run_cli(
        capsys,
        "--api-url", local_agent.api_url,
        "wait", "--path", "/boom", "--expect-status", "2xx",
        "--exec", sender(public(local_agent) + "/boom", method="GET"), "--timeout", "20", "--json",
    )  # fmt: skip
    assert code == 6
    record = json.loads(out)
    assert record["path"] == "/boom" and record["status_code"] == 500
    assert "answered 500, expected 2xx" in err


def test_wait_trigger_failure_ends_the_wait(
    capsys: pytest.CaptureFixture[str], local_agent: Any
) -> None:
    start = time.monotonic()
    code, out, err = run_cli(
        capsys, "--api-url", local_agent.api_url, "wait", "--exec", "exit 7", "--timeout", "30"
    )
    assert code == 1
    assert out == ""
    assert "Error: trigger command exited with status 7: 'exit 7'" in err
    assert time.monotonic() - start < 25  # did not sit out the timeout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--where", "status >= "], "invalid --where expression: expected a value"),
        (["--status", "7xx"], "invalid status '7xx'"),
        (["--timeout", "soon"], "invalid --timeout 'soon'"),
        (["--since", "yesterday"], "invalid --since value 'yesterday'"),
        (["--header", "Bad Name: x"], "invalid header filter"),
        (["--expect-status", "abc"], "invalid status 'abc'"),
    ],
)
def test_wait_bad_input_exits_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run_cli(capsys, "--api-url", "127.0.0.1:9", "wait", *args)
    assert code == 2
    assert out == ""
    assert message in err
    assert "Traceback" not in err


def test_wait_where_error_shows_the_column(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        capsys, "--api-url", "127.0.0.1:9", "wait", "--where", "method == 'POST' and"
    )
    assert code == 2
    lines = err.splitlines()
    assert lines[0] == (
        "Error: invalid --where expression: expected a value, found end of expression (column 21)"
    )
    assert lines[1] == "  method == 'POST' and"
    assert lines[2] == "  " + " " * 20 + "^"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_wait_tolerates_an_agent_that_starts_late(upstream: Any, tmp_path: Path) -> None:
    """The installed command, in a subprocess, started before the agent exists."""
    port = _free_port()
    exe = Path(sys.executable).parent / "ngrok-inspect"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NGROK")}
    proc = subprocess.Popen(
        [str(exe), "--api-url", f"127.0.0.1:{port}", "wait", "--path", "/late", "--timeout", "40"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        # a signal, not a sleep: the wait says it finds no agent before one is started
        assert proc.stderr is not None
        said: list[str] = []
        while not any("not answering" in line for line in said):
            line = proc.stderr.readline()
            assert line, "".join(said)  # it ended without saying the agent was not there
            said.append(line)
        assert proc.poll() is None
        upstream_url = getattr(upstream, "url", upstream)
        with LocalAgent(str(upstream_url), web_addr=f"127.0.0.1:{port}") as agent:
            get(public(agent) + "/late")
            out, err = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "/late" in out.split()
