"""``requests show`` as a newcomer reads it, on the local agent with real traffic: long
header values wrap under themselves, ``--raw`` separates or picks the messages, gzip bodies
say both sizes, no label twice, and ``--body`` of a truncated capture warns."""

from __future__ import annotations

import gzip
import re
from typing import Any

import requests

from ngrok_inspect.client import AgentClient
from ngrok_inspect.local_agent import LocalAgent
from tests.cli_invoke import invoke

ANSI = re.compile(r"\x1b\[[0-9;]*m")
TERMINAL = {"FORCE_COLOR": "1", "TERM": "xterm-256color"}


def _show(api: str, *args: str, terminal: bool = False, columns: int = 120) -> Any:
    env = {**TERMINAL, "COLUMNS": str(columns)} if terminal else {}
    return invoke(["requests", "show", "last", *args, "--api-url", api], env=env)


def test_long_header_values_wrap_under_their_value(local_agent: Any) -> None:
    value = " ".join(f"word{n}" for n in range(40))
    token = "t" * 150  # no space to break at: folded
    requests.get(
        local_agent.public_url + "/h", headers={"X-Long": value, "X-Token": token}, timeout=10
    )
    r = _show(local_agent.api_url, terminal=True, columns=60)
    assert r.exit_code == 0, r.stderr
    lines = ANSI.sub("", r.stdout).splitlines()
    for name, text in (("X-Long", value), ("X-Token", token)):
        start = next(i for i, line in enumerate(lines) if line.startswith(f"{name}: "))
        indent = " " * len(f"{name}: ")
        block = [lines[start]]
        for line in lines[start + 1 :]:
            if not line.startswith(indent) or not line.strip():
                break
            block.append(line)
        assert len(block) > 2, block  # it did wrap, every continuation indented
        assert all(len(line) <= 60 for line in block)
        rebuilt = "".join(line[len(indent) :].rstrip() for line in block)
        assert rebuilt.replace(" ", "") == text.replace(" ", "")


def test_raw_separates_the_messages_and_takes_a_side(local_agent: Any) -> None:
    requests.post(local_agent.public_url + "/form", data="a=1&b=2", timeout=10)
    api = local_agent.api_url
    with AgentClient(api) as client:
        req = client.get_request(client.resolve_id("last"))
    assert req.response is not None
    assert not req.request.raw.endswith(b"\n")  # the body runs to the end
    both = _show(api, "--raw")
    assert both.exit_code == 0, both.stderr
    assert both.stdout_bytes == req.request.raw + b"\n\n" + req.response.raw
    assert _show(api, "--raw", "request").stdout_bytes == req.request.raw
    assert _show(api, "--raw", "response").stdout_bytes == req.response.raw
    assert _show(api, "--raw=response").stdout_bytes == req.response.raw
    # the value is optional: what follows --raw is the id, or a global option
    before = invoke(["requests", "show", "--raw", "request", "last", "--api-url", api])
    assert before.stdout_bytes == req.request.raw
    hoisted = invoke(["requests", "show", "last", "--raw", "--api-url", api])
    assert hoisted.exit_code == 0, hoisted.stderr
    assert hoisted.stdout_bytes == both.stdout_bytes
    bad = invoke(["requests", "show", "last", "--raw", "--body", "request", "--api-url", api])
    assert bad.exit_code == 2 and "exclude each other" in bad.stderr


def test_raw_of_a_bodyless_request_keeps_one_blank_line(local_agent: Any) -> None:
    requests.get(local_agent.public_url + "/search?q=1", timeout=10)
    api = local_agent.api_url
    with AgentClient(api) as client:
        req = client.get_request(client.resolve_id("last"))
    assert req.response is not None and req.request.raw.endswith(b"\r\n\r\n")
    assert _show(api, "--raw").stdout_bytes == req.request.raw + b"\n" + req.response.raw


def test_gzip_body_shows_decoded_and_wire_size(local_agent: Any) -> None:
    requests.get(local_agent.public_url + "/gzip", headers={"Accept-Encoding": "gzip"}, timeout=10)
    api = local_agent.api_url
    with AgentClient(api) as client:
        req = client.get_request(client.resolve_id("last"))
    assert req.response is not None
    body = req.response.body
    assert body.encoding == "gzip" and gzip.decompress(body.wire) == body.data
    label = f"application/json · {body.size} B · gzip, {len(body.wire)} B on the wire"
    piped = _show(api)
    assert f"-- body: {label}" in piped.stdout.splitlines()
    assert f"body · {label}" in ANSI.sub("", _show(api, terminal=True).stdout)


def test_an_empty_body_is_said_once(local_agent: Any) -> None:
    requests.get(local_agent.public_url + "/search?q=1", timeout=10)
    for terminal in (False, True):
        text = ANSI.sub("", _show(local_agent.api_url, terminal=terminal).stdout)
        label = "body · empty" if terminal else "-- body: empty"
        assert text.count(label) == 1, text  # the GET's request body
        assert "(no body)" not in text


def test_body_of_a_truncated_capture_warns_on_stderr(upstream: Any) -> None:
    with LocalAgent(upstream.url, capture_limit=1024) as agent:
        payload = b"x" * 5000
        requests.post(agent.public_url + "/upload", data=payload, timeout=10)
        r = _show(agent.api_url, "--body", "request")
        assert r.exit_code == 0, r.stderr
        assert r.stdout_bytes == payload[:1024]  # what was kept, byte-exact
        assert r.stderr.splitlines() == [
            "Warning: the request body is a truncated capture: the agent kept 1024 of 5000 bytes"
        ]
        whole = _show(agent.api_url, "--body", "response")
        assert whole.exit_code == 0 and whole.stderr == ""  # not cut: no warning
