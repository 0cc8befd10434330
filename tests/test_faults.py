"""Faults of issue 9 ("never a traceback, never a lie") against hostile servers on 127.0.0.1.

Each test drives a deliberately broken server and asserts the exit code and the message;
a subprocess timeout is only a guard against a hang, never the assertion.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ngrok_inspect.client import AgentClient
from ngrok_inspect.errors import AgentTimeoutError, ExitCode
from tests.cli_invoke import invoke
from tests.support.servers import WEBHOOK_ID, FixtureAgentServer

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
    assert lines[0].endswith(" of its answer within 0.5s; address from --api-url")
    assert lines[1] == "The agent may be busy or hung; raise --api-timeout or restart the agent"


def test_trickling_agent_in_process(broken_server: Callable[[str], str]) -> None:
    # 2 s, not less: on a loaded machine the first byte alone can take a few hundred ms
    r = invoke(["--api-timeout", "2", "--api-url", broken_server("trickle_headers"), "status"])
    assert r.exit_code == 3 and r.stdout == ""
    assert " of its answer within 2s" in r.stderr.splitlines()[0]


# -- a closed pipe ends every streaming command at once, exit 0 ----------------------------


def _start(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(BIN), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env()
    )


def _reader_leaves(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    """Close our end of the child's stdout (``head`` exiting), then wait for the child."""
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    try:
        _, err = proc.communicate(timeout=HANG_GUARD)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("the command went on after its reader left")
    return proc.returncode, err.decode()


def _stderr_until(proc: subprocess.Popen[bytes], marker: str) -> str:
    """stderr lines up to the one containing ``marker`` (the command reached its loop)."""
    assert proc.stderr is not None
    seen = ""
    while marker not in seen:
        line = proc.stderr.readline().decode()
        assert line, f"ended before saying {marker!r}: {seen}"
        seen += line
    return seen


def test_follow_exits_0_when_its_reader_leaves(local_agent: Any) -> None:
    proc = _start(["--api-url", local_agent.api_url, "requests", "list", "-f"])
    assert proc.stdout is not None
    # a request sent before follow recorded its starting point is not printed: send until
    # one is (the line is the signal), as `| head -1` would read it
    line = b""
    while not line:
        requests.get(local_agent.public_url + "/first", timeout=10)
        if select.select([proc.stdout], [], [], 0.5)[0]:
            line = proc.stdout.readline()
    assert b"/first" in line
    # the reader goes and no more traffic comes: follow must notice without a next write
    code, err = _reader_leaves(proc)
    assert code == 0, err
    assert err == ""


def test_wait_exits_0_when_its_reader_leaves(local_agent: Any) -> None:
    proc = _start(
        ["--api-url", local_agent.api_url, "wait", "--path", "/never", "--timeout", "10m"]
    )
    _stderr_until(proc, "Waiting up to 600s")
    code, err = _reader_leaves(proc)
    assert code == 0, err
    assert "timed out" not in err and "Error" not in err


def test_monitor_exits_0_when_its_reader_leaves(local_agent: Any) -> None:
    proc = _start(["--api-url", local_agent.api_url, "monitor", "--interval", "10m"])
    _stderr_until(proc, "Monitoring all tunnels")
    code, err = _reader_leaves(proc)
    assert code == 0, err
    assert "Error" not in err


def test_watch_reader_sees_the_last_reader_close() -> None:
    from ngrok_inspect.pipewatch import watch_reader

    r, w = os.pipe()
    with os.fdopen(w, "w") as out, watch_reader(out) as gone:
        assert not gone.is_set()
        os.close(r)
        assert gone.wait(HANG_GUARD)


def test_wait_for_ends_when_stopped(fixture_agent: Any) -> None:
    import threading

    from ngrok_inspect.filters import RequestFilter
    from ngrok_inspect.watch import ManualClock, WaitStoppedError, wait_for

    stop = threading.Event()
    clock = ManualClock(on_sleep=lambda c: stop.set())
    with pytest.raises(WaitStoppedError) as e:
        wait_for(
            fixture_agent.url,
            RequestFilter(paths=("/never",)),
            timeout=3600,
            clock=clock,
            stop=stop,
        )
    assert e.value.matched == [] and e.value.exit_code == 130
    assert len(clock.sleeps) == 1  # it stopped at the first sleep, not after the hour


# -- a raw that does not decode says so ------------------------------------------------------


class _GarbledRawAgent(FixtureAgentServer):
    """The recorded agent, but the webhook's request ``raw`` is not base64."""

    GARBLED = "R0VUIC8g!!!not base64!!!"

    def route(self, method: str, target: str, body: bytes) -> Any:
        answer = super().route(method, target, body)
        path = target.split("?")[0]
        if method == "GET" and path.startswith("/api/requests/http"):
            doc = json.loads(answer.body)
            for item in doc.get("requests", [doc]):
                if item.get("id") == WEBHOOK_ID:
                    item["request"]["raw"] = self.GARBLED
            answer.body = json.dumps(doc).encode()
        return answer


@pytest.fixture
def garbled_agent() -> Iterator[str]:
    with _GarbledRawAgent() as agent:
        yield agent.url


def test_json_record_names_the_unreadable_raw(garbled_agent: str) -> None:
    r = invoke(["--api-url", garbled_agent, "requests", "show", WEBHOOK_ID, "--json"])
    assert r.exit_code == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["request"]["raw_error"] == "invalid base64"
    assert rec["response"]["raw_error"] is None
    listed = invoke(["--api-url", garbled_agent, "requests", "list", "--json"])
    recs = {x["id"]: x for x in json.loads(listed.stdout)}
    assert recs[WEBHOOK_ID]["request"]["raw_error"] == "invalid base64"
    assert all(x["request"]["raw_error"] is None for i, x in recs.items() if i != WEBHOOK_ID)
    # redacted for an issue: still said (redaction drops the garbled raw, not the fact)
    redacted = invoke(
        ["--api-url", garbled_agent, "requests", "show", WEBHOOK_ID, "--json", "--redact"]
    )
    assert json.loads(redacted.stdout)["request"]["raw_error"] == "invalid base64"


@pytest.mark.parametrize("color", [False, True])
def test_show_view_notes_the_unreadable_raw(garbled_agent: str, color: bool) -> None:
    env = {"FORCE_COLOR": "1", "COLUMNS": "200"} if color else {}
    r = invoke(["--api-url", garbled_agent, "requests", "show", WEBHOOK_ID], env=env)
    assert r.exit_code == 0, r.stderr
    assert ("body · " in r.stdout) == color  # the rich view, or the plain one
    flat = " ".join(r.stdout.split())
    assert "the agent's raw bytes are unreadable (invalid base64)" in flat
    assert flat.count("raw bytes are unreadable") == 1  # the request's, not the response's


@pytest.mark.parametrize("args", [["--raw"], ["--body", "request"]], ids=["raw", "body"])
def test_exact_bytes_of_an_unreadable_raw_are_exit_5(garbled_agent: str, args: list[str]) -> None:
    r = invoke(["--api-url", garbled_agent, "requests", "show", WEBHOOK_ID, *args])
    assert r.exit_code == 5
    assert r.stdout == ""  # never an empty body passed off as the capture
    lines = r.stderr.splitlines()
    assert lines[0] == (
        f"Error: the agent's raw bytes of the request of {WEBHOOK_ID} are unreadable "
        "(invalid base64)"
    )
    assert len(lines) == 2
    # the response side is fine and still written exactly
    ok = invoke(["--api-url", garbled_agent, "requests", "show", WEBHOOK_ID, "--body", "response"])
    assert ok.exit_code == 0 and ok.stdout_bytes


def test_decode_raw_catches_what_a2b_base64_skips() -> None:
    from ngrok_inspect.models import decode_raw

    assert decode_raw("aGk=") == (b"hi", None)
    assert decode_raw("") == (b"", None)
    for bad in ("!!!!", "aGk=!!", "aGk", "a", 42):
        assert decode_raw(bad) == (b"", "invalid base64"), bad


# -- error messages quote agent data escaped, on one line ------------------------------------


class _HostileErrorsAgent(FixtureAgentServer):
    """The recorded agent, but its tunnel has a hostile name and listing answers a 400
    whose reason phrase, ``msg`` and ``details`` carry terminal control and newlines."""

    NAME = "ev\x1bil\tna\nme"

    def route(self, method: str, target: str, body: bytes) -> Any:
        path = target.split("?")[0]
        answer = super().route(method, target, body)
        if method == "GET" and path == "/api/requests/http":
            err = {
                "error_code": 999,
                "status_code": 400,
                "msg": "bad\x1b]0;PWNED\x07\nsecond line",
                "details": {"err": "x\x1b[2Jy\nz"},
            }
            answer.status, answer.reason = 400, "Bad\x1b[5mRequest"
            answer.headers = [("Content-Type", "application/json")]
            answer.body = json.dumps(err).encode()
        if method == "GET" and path == "/api/tunnels":
            doc = json.loads(answer.body)
            for item in doc["tunnels"]:
                item["name"] = self.NAME
            answer.body = json.dumps(doc).encode()
        return answer


def test_agent_error_text_is_escaped_on_one_line() -> None:
    with _HostileErrorsAgent() as agent:
        r = invoke(["--api-url", agent.url, "requests", "list", "--json"])
    assert r.exit_code == 5 and r.stdout == ""
    assert "\x1b" not in r.stderr and "\x07" not in r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 2, r.stderr  # cause + hint, whatever newlines the agent sent
    assert lines[0] == (
        f"Error: the agent at {agent.url} answered 400 Bad\\e[5mRequest: "
        "bad\\e]0;PWNED\\x07\\nsecond line (error 999); address from --api-url"
    )
    assert lines[1].endswith("(details: err=x\\e[2Jy\\nz)")


def test_hostile_tunnel_names_in_a_not_found_error() -> None:
    with _HostileErrorsAgent() as agent:
        r = invoke(["--api-url", agent.url, "requests", "list", "--tunnel", "nope"])
    assert r.exit_code == 4 and r.stdout == ""
    assert "\x1b" not in r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 2, r.stderr
    assert "no tunnel named 'nope' (tunnels: ev\\eil\\tna\\nme)" in lines[0]


# -- a raw 0x9b (C1 CSI) in a header never reaches the terminal ------------------------------


def test_raw_c1_csi_byte_in_a_header_is_shown_escaped(local_agent: Any) -> None:
    import socket
    from urllib.parse import urlsplit

    pub = urlsplit(local_agent.public_url)
    # a raw socket: no client library would send a lone 0x9b (not UTF-8) in a header value;
    # the upstream echoes it back in a JSON body (as a surrogate-escaped character)
    with socket.create_connection((pub.hostname, pub.port), timeout=10) as s:
        s.sendall(
            b"GET /c1 HTTP/1.1\r\nHost: x\r\nX-Evil: a\x9b31mb\xc2\x9b2Jc\r\n"
            b"Connection: close\r\n\r\n"
        )
        assert s.recv(100).startswith(b"HTTP/1.1 200")
    colour = {**_env(), "FORCE_COLOR": "1", "COLUMNS": "200"}
    for args, env in [
        (["requests", "show", "last"], colour),
        (["requests", "show", "last"], _env()),
        (["requests", "show", "last", "--json"], colour),
        (["requests", "show", "last", "--json"], _env()),
        (["requests", "list"], colour),
    ]:
        p = subprocess.run(
            [str(BIN), "--api-url", local_agent.api_url, *args],
            capture_output=True,
            env=env,
            timeout=HANG_GUARD,
            check=False,
        )
        assert p.returncode == 0, (args, p.stderr)
        text = p.stdout.decode("utf-8")  # never invalid UTF-8 (a raw 0x9b byte)
        assert "\x9b" not in text and "\udc9b" not in text, args  # nor U+009B itself
        if args[-1] != "list":
            assert ("\\x9b" in text) or ("\\u009b" in text), args  # shown, visibly
