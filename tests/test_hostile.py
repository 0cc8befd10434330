"""Captured traffic is hostile input: what strangers send is shown, never obeyed.

Hostile requests go through the real local agent; the CLI runs as a real subprocess with
forced colour (as on a terminal) and piped (for scripts); broken agents answer the faults.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import requests

from ngrok_inspect import escape
from tests.cli_invoke import invoke
from tests.support.servers import FixtureAgentServer

OSC_TITLE = "\x1b]0;PWNED\x07\x1b[2J"
MARKUP_QUERY = "/search?q=[link=http://evil.example/]click[/link]"


def cli(*args: str, color: bool) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    if color:
        env["FORCE_COLOR"] = "1"
        env["COLUMNS"] = "300"
    return subprocess.run(
        ["ngrok-inspect", *args], capture_output=True, env=env, timeout=60, check=False
    )


def assert_harmless(out: bytes) -> None:
    text = out.decode("utf-8")
    # rich's own colour codes are CSI ... m; nothing else may reach the terminal
    for bad in ("\x1b]", "\x07", "\x1b[2J", "\x9b", "\x1b]8;"):
        assert bad not in text, repr(bad)


def send_hostile(public_url: str, api: str) -> None:
    base = public_url.rstrip("/")
    requests.post(
        base + "/body",
        data=OSC_TITLE.encode(),
        headers={"Content-Type": "text/plain", "X-Evil": "a [bold]markup[/bold]"},
        timeout=10,
    )
    requests.post(
        base + "/form",
        data="name=%1b]0;X%07&ok=1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    requests.post(
        base + "/upload",
        files={"fi\x1b]0;N\x07eld": ("evil\x1b]0;F\x07.txt", b"x", "text/plain")},
        timeout=10,
    )
    requests.get(base + MARKUP_QUERY, timeout=10)


def test_escape_rule() -> None:
    assert escape.field("a\tb\nc\x1b[2J\x7f\x9b\u202e") == "a\\tb\\nc\\e[2J\\x7f\\x9b\\u202e"
    assert escape.body("line\tone\r\nline two\x1b]0;T\x07") == "line\tone\r\nline two\\e]0;T\\x07"
    assert escape.body("over\rwrite") == "over\\rwrite"
    assert escape.is_terminal_safe(b"plain\ttext\r\n")
    assert not escape.is_terminal_safe(b"\x1b[2J")
    assert not escape.is_terminal_safe(b"\xff\xfe")


def test_hostile_captures_are_shown_not_obeyed(local_agent: Any) -> None:
    api, pub = local_agent.api_url, local_agent.tunnels[0].public_url
    send_hostile(pub, api)
    listed = cli("requests", "list", "--api-url", api, color=True)
    assert listed.returncode == 0, listed.stderr
    assert_harmless(listed.stdout)
    ids = cli("requests", "list", "-q", "--api-url", api, color=False).stdout.decode().split()
    assert len(ids) == 4
    for rid in ids:
        shown = cli("requests", "show", rid, "--api-url", api, color=True)
        assert shown.returncode == 0, shown.stderr
        assert_harmless(shown.stdout)
        plain = cli("requests", "show", rid, "--api-url", api, color=False)
        assert_harmless(plain.stdout)
    body = cli("requests", "show", ids[-1], "--api-url", api, color=True).stdout.decode()
    assert "\\e]0;PWNED\\x07\\e[2J" in body and "a [bold]markup[/bold]" in body
    search = cli("requests", "show", ids[0], "--api-url", api, color=False).stdout.decode()
    assert "[link=http://evil.example/]click[/link]" in search  # shown as text, not a link
    for cmd in (["stats"], ["status"]):
        out = cli(*cmd, "--api-url", api, color=True)
        assert out.returncode == 0, out.stderr
        assert_harmless(out.stdout)


class _HostileNamesAgent(FixtureAgentServer):
    """The recorded agent, with its tunnel renamed to a hostile name.

    The local agent refuses such names on ``POST /api/tunnels`` (issue 8), but another
    agent may serve them, so the views must still escape what an agent says.
    """

    NAME = "ev\x1bil\tna\nme"

    def route(self, method: str, target: str, body: bytes) -> Any:
        answer = super().route(method, target, body)
        if method == "GET" and target.split("?")[0] in ("/api/tunnels", "/api/requests/http"):
            doc = json.loads(answer.body)
            for item in doc.get("tunnels", []):
                item["name"] = self.NAME
            for item in doc.get("requests", []):
                item["tunnel_name"] = self.NAME
            answer.body = json.dumps(doc).encode()
        return answer


def test_hostile_tunnel_name_keeps_one_record_per_line() -> None:
    with _HostileNamesAgent() as agent:
        api = agent.url
        piped = cli("requests", "list", "--limit", "1", "--api-url", api, color=False)
        assert piped.returncode == 0, piped.stderr
        lines = piped.stdout.decode().splitlines()
        assert len(lines) == 1 and lines[0].count("\t") == 8
        assert "ev\\eil\\tna\\nme" in lines[0]
        status = cli("status", "--api-url", api, color=False).stdout.decode()
        assert "ev\\eil\\tna\\nme" in status and "\x1b" not in status
        assert_harmless(cli("status", "--api-url", api, color=True).stdout)


def test_body_refuses_control_bytes_on_a_terminal_but_not_in_a_pipe(local_agent: Any) -> None:
    api, pub = local_agent.api_url, local_agent.tunnels[0].public_url
    requests.post(pub + "/body", data=OSC_TITLE.encode(), timeout=10)
    piped = cli("requests", "show", "last", "--body", "request", "--api-url", api, color=False)
    assert piped.returncode == 0 and piped.stdout == OSC_TITLE.encode()
    main, secondary = pty.openpty()
    try:
        proc = subprocess.run(
            ["ngrok-inspect", "requests", "show", "last", "--body", "request", "--api-url", api],
            stdout=secondary,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
        os.close(secondary)
        secondary = -1
        try:
            written = os.read(main, 4096)
        except OSError:  # nothing written: the pty reports EIO once closed
            written = b""
    finally:
        if secondary >= 0:
            os.close(secondary)
        os.close(main)
    assert proc.returncode == 2
    assert b"\x1b" not in written
    err = proc.stderr.decode()
    assert "binary or control bytes" in err and "> body.bin" in err


@pytest.mark.parametrize(
    ("mode", "code", "cause"),
    [
        ("deep_json", 5, "nested too deeply"),
        ("no_id", 5, "without 'id'"),
    ],
)
def test_bad_answers_exit_5_with_one_line(
    broken_server: Callable[[str], str], mode: str, code: int, cause: str
) -> None:
    url = broken_server(mode)
    out = invoke(["requests", "show", "last", "--api-url", url])
    assert out.exit_code == code, out.stderr
    assert out.stdout == ""
    first, *rest = out.stderr.splitlines()
    assert first.startswith("Error: ") and cause in first
    assert "Traceback" not in out.stderr and len(rest) <= 1


def test_debug_shows_the_chained_cause(broken_server: Callable[[str], str]) -> None:
    url = broken_server("not_json")
    out = invoke(["--debug", "requests", "list", "--api-url", url])
    assert out.exit_code == 5
    assert "direct cause" in out.stderr and "JSONDecodeError" in out.stderr
    short = invoke(["requests", "list", "--api-url", url])
    assert "JSONDecodeError" not in short.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["monitor", "--interval", "0.1"],
    ],
)
def test_streaming_commands_exit_0_on_a_closed_pipe(local_agent: Any, args: list[str]) -> None:
    api, pub = local_agent.api_url, local_agent.tunnels[0].public_url
    for i in range(3):
        requests.get(f"{pub}/n{i}", timeout=10)
    script = (
        f"{sys.executable} -m ngrok_inspect {' '.join(args)} --api-url {api} | head -1;"
        " echo rc=${PIPESTATUS[0]} >&2"
    )
    proc = subprocess.run(["bash", "-c", script], capture_output=True, timeout=60, check=False)
    assert proc.stdout.decode().count("\n") == 1
    assert "rc=0" in proc.stderr.decode(), proc.stderr.decode()
    assert "Traceback" not in proc.stderr.decode()
