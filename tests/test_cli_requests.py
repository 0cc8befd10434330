"""``requests list`` and ``requests show`` against the recorded agent and the local agent."""

from __future__ import annotations

import gzip
import json
import re
from typing import Any

import pytest

from tests.cli_invoke import invoke
from tests.support.live import send_traffic
from tests.support.servers import WEBHOOK_ID, FixtureAgentServer

ANSI = re.compile(r"\x1b\[[0-9;]*m")
COLOUR_SGR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|9[0-7])[;m]")
NEWEST = "airt_3Mk9FnMCUO6FVwLDSH9S0NIhaMS"
FORM_ID = "airt_3Mk9Ed1QaLwB54xT8JfuKeBaPAV"
GZIP_ID = "airt_3Mk9EnKfW6Rd4kScjKqVMx4aICv"


def recorded_list(fx: FixtureAgentServer) -> list[dict[str, Any]]:
    return fx.current_list()


# -- list -------------------------------------------------------------------------------


def test_list_plain_is_tab_separated_newest_first(fixture_agent: FixtureAgentServer) -> None:
    r = invoke(["requests", "list", "--api-url", fixture_agent.url])
    assert r.exit_code == 0, r.stderr
    assert r.stderr == ""
    lines = r.stdout.splitlines()
    expected = [e["id"] for e in recorded_list(fixture_agent)]
    assert [ln.split("\t")[0] for ln in lines] == expected
    webhook = next(ln.split("\t") for ln in lines if ln.startswith(WEBHOOK_ID))
    assert webhook[1:] == [
        "2026-11-28T16:33:06+00:00", "web", "POST", "/webhook?source=test", "201", "0.934",
        "52", "127.0.0.1",
    ]  # fmt: skip
    assert "\x1b[" not in r.stdout


def test_list_json_records(fixture_agent: FixtureAgentServer) -> None:
    r = invoke(["requests", "list", "--json", "--api-url", fixture_agent.url])
    assert r.exit_code == 0
    records = json.loads(r.stdout)
    assert len(records) == 12
    hook = next(x for x in records if x["id"] == WEBHOOK_ID)
    assert hook["status_code"] == 201
    assert hook["request"]["body"]["json"] == {
        "event": "push", "ref": "refs/heads/main", "count": 3, "nested": {"ok": True},
    }  # fmt: skip
    assert hook["response"]["status"] == "201 Created"
    assert set(hook) == {
        "id", "tunnel", "remote_addr", "start", "duration_ms", "method", "uri", "path",
        "status_code", "request", "response", "error",
    }  # fmt: skip


def test_list_limit_quiet_and_filters(fixture_agent: FixtureAgentServer) -> None:
    url = fixture_agent.url
    r = invoke(["requests", "list", "-q", "--limit", "3", "--api-url", url])
    assert r.stdout.split() == [e["id"] for e in recorded_list(fixture_agent)[:3]]
    r = invoke(["requests", "list", "-q", "--status", "4xx,5xx", "--api-url", url])
    assert len(r.stdout.split()) == 2
    r = invoke(["requests", "list", "--json", "--errors", "--api-url", url])
    assert sorted(x["status_code"] for x in json.loads(r.stdout)) == [404, 500]
    r = invoke(["requests", "list", "--json", "-m", "post", "--path", "/w*", "--api-url", url])
    assert [x["id"] for x in json.loads(r.stdout)] == [WEBHOOK_ID]
    r = invoke(["requests", "list", "-q", "--status", "500-599", "--api-url", url])
    assert r.stdout.count("\n") == 1
    r = invoke(["requests", "list", "-q", "-H", "Content-Type: application/json", "--api-url", url])
    assert r.stdout.split() == [WEBHOOK_ID]
    r = invoke(["requests", "list", "-q", "--body-contains", "Jane", "--api-url", url])
    assert r.stdout.split() == [FORM_ID]
    r = invoke(["requests", "list", "-q", "--where", "status >= 500", "--api-url", url])
    assert len(r.stdout.split()) == 1
    r = invoke(["requests", "list", "-q", "--since", "2026-11-28T16:33:15Z", "--api-url", url])
    assert len(r.stdout.split()) == 3


def test_list_tunnel_is_exact_although_agent_matches_substrings(
    fixture_agent: FixtureAgentServer,
) -> None:
    r = invoke(["requests", "list", "-q", "--tunnel", "web", "--api-url", fixture_agent.url])
    assert len(r.stdout.split()) == 12
    # a name that is no tunnel of the agent is an error naming the tunnels, not an empty list
    r = invoke(["requests", "list", "--json", "--tunnel", "we", "--api-url", fixture_agent.url])
    assert r.exit_code == 4 and r.stdout == ""
    assert r.stderr.startswith("Error: no tunnel named 'we' (tunnels: ")
    assert "web" in r.stderr.splitlines()[0]


def test_list_empty_says_so_on_stderr(fixture_agent: FixtureAgentServer) -> None:
    r = invoke(["requests", "list", "--method", "PATCH", "--api-url", fixture_agent.url])
    assert r.exit_code == 0
    assert r.stdout == ""
    assert r.stderr.startswith("No captured requests matching method PATCH at ")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--status", "6xx"], "invalid status"),
        (["--since", "yesterday"], "--since"),
        (["--where", "status =="], "Error:"),
        (["--header", ": x"], "invalid header filter"),
        (["--limit", "0"], "--limit"),
        (["--count", "2"], "--count needs --follow"),
    ],
)
def test_list_bad_values_exit_2(
    fixture_agent: FixtureAgentServer, args: list[str], needle: str
) -> None:
    r = invoke(["requests", "list", *args, "--api-url", fixture_agent.url])
    assert r.exit_code == 2
    assert r.stdout == ""
    assert needle in r.stderr
    assert "Traceback" not in r.stderr


def test_list_table_on_a_terminal(fixture_agent: FixtureAgentServer) -> None:
    r = invoke(
        ["requests", "list", "-n", "3", "--api-url", fixture_agent.url],
        env={"FORCE_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": "140"},
    )
    assert r.exit_code == 0
    assert "\x1b[" in r.stdout  # coloured
    plain = invoke(
        ["requests", "list", "-n", "3", "--no-color", "--api-url", fixture_agent.url],
        env={"FORCE_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": "140"},
    )
    assert not COLOUR_SGR.search(plain.stdout)  # bold/dim stay, colours go (no-color.org)
    assert COLOUR_SGR.search(r.stdout)
    lines = ANSI.sub("", plain.stdout).splitlines()
    assert lines[0].split() == [
        "ID", "TIME", "TUNNEL", "METHOD", "PATH", "STATUS", "MS", "SIZE", "CLIENT",
    ]  # fmt: skip
    assert lines[1].startswith(NEWEST)
    no_color_env = invoke(
        ["requests", "list", "-n", "3", "--api-url", fixture_agent.url],
        env={"FORCE_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": "140", "NO_COLOR": "1"},
    )
    assert no_color_env.stdout == plain.stdout


def test_list_table_narrow_terminal_drops_columns(fixture_agent: FixtureAgentServer) -> None:
    r = invoke(
        ["requests", "list", "--no-color", "--api-url", fixture_agent.url],
        env={"FORCE_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": "80"},
    )
    text = ANSI.sub("", r.stdout)
    header = text.splitlines()[0].split()
    assert "CLIENT" not in header
    assert {"ID", "METHOD", "PATH", "STATUS"} <= set(header)
    assert all(len(line) <= 80 for line in text.splitlines())


# -- show -------------------------------------------------------------------------------


def test_show_by_prefix_plain(fixture_agent: FixtureAgentServer) -> None:
    r = invoke(["requests", "show", WEBHOOK_ID[:12], "--api-url", fixture_agent.url])
    assert r.exit_code == 0, r.stderr
    out = r.stdout
    assert "Request:  POST http://127.0.0.1:8080/webhook?source=test" in out
    assert "Status:   201 Created" in out
    assert "== Request: POST /webhook?source=test HTTP/1.1" in out
    assert '  "event": "push",' in out  # pretty-printed JSON
    assert "== Response: HTTP/1.1 201 Created" in out
    assert out.index("== Request") < out.index("== Response")


def test_show_last_and_form_table(fixture_agent: FixtureAgentServer) -> None:
    r = invoke(["requests", "show", "last", "--json", "--api-url", fixture_agent.url])
    assert json.loads(r.stdout)["id"] == NEWEST
    r = invoke(["requests", "show", FORM_ID, "--api-url", fixture_agent.url])
    assert "name  Jane Doe" in r.stdout
    assert "note  a&b=c" in r.stdout


def test_show_json_is_the_record(fixture_agent: FixtureAgentServer) -> None:
    r = invoke(["requests", "show", WEBHOOK_ID, "--json", "--api-url", fixture_agent.url])
    rec = json.loads(r.stdout)
    assert rec["id"] == WEBHOOK_ID
    assert rec["response"]["body"]["json"] == {
        "received": 71, "content_type": "application/json",
    }  # fmt: skip


def test_show_body_is_byte_exact_and_decoded(fixture_agent: FixtureAgentServer) -> None:
    r = invoke(
        ["requests", "show", WEBHOOK_ID, "--body", "request", "--api-url", fixture_agent.url]
    )
    assert r.exit_code == 0
    assert (
        r.stdout_bytes == b'{"event":"push","ref":"refs/heads/main","count":3,"nested":{"ok":true}}'
    )
    r = invoke(["requests", "show", GZIP_ID, "--body", "response", "--api-url", fixture_agent.url])
    entry = next(e for e in recorded_list(fixture_agent) if e["id"] == GZIP_ID)
    import base64

    wire = base64.b64decode(entry["response"]["raw"])
    assert gzip.decompress(wire.split(b"\r\n\r\n", 1)[1]) == r.stdout_bytes
    assert json.loads(r.stdout_bytes)  # the decoded JSON document


def test_show_raw_is_the_captured_bytes(fixture_agent: FixtureAgentServer) -> None:
    import base64

    url = fixture_agent.url
    entry = next(e for e in recorded_list(fixture_agent) if e["id"] == GZIP_ID)
    request = base64.b64decode(entry["request"]["raw"])
    response = base64.b64decode(entry["response"]["raw"])
    for side, expected in (("request", request), ("response", response)):
        r = invoke(["requests", "show", GZIP_ID, "--raw", side, "--api-url", url])
        assert r.stdout_bytes == expected  # exactly as captured
    # both: a blank line between them (the GET's head already ends with one CRLF CRLF)
    r = invoke(["requests", "show", GZIP_ID, "--raw", "--api-url", url])
    assert request.endswith(b"\r\n\r\n")
    assert r.stdout_bytes == request + b"\n" + response


def test_show_errors(fixture_agent: FixtureAgentServer) -> None:
    url = fixture_agent.url
    r = invoke(["requests", "show", "airt_3Mk9", "--api-url", url])
    assert r.exit_code == 2
    assert r.stdout == ""
    assert "matches 12 requests" in r.stderr and NEWEST in r.stderr
    r = invoke(["requests", "show", "airt_doesnotexist", "--api-url", url])
    assert r.exit_code == 4
    assert r.stderr.splitlines()[0] == (
        f"Error: no captured request with id 'airt_doesnotexist'; agent {url}, address from "
        "--api-url"
    )
    r = invoke(["requests", "show", "last", "--raw", "--json", "--api-url", url])
    assert r.exit_code == 2 and "exclude each other" in r.stderr
    r = invoke(["requests", "show", "last", "--body", "both", "--api-url", url])
    assert r.exit_code == 2 and "--body must be" in r.stderr
    r = invoke(["requests", "show", "--api-url", url])
    assert r.exit_code == 2 and "Missing argument" in r.stderr


def test_show_rich_view_on_terminal(fixture_agent: FixtureAgentServer) -> None:
    r = invoke(
        ["requests", "show", WEBHOOK_ID, "--api-url", fixture_agent.url],
        env={"FORCE_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": "100"},
    )
    assert r.exit_code == 0
    assert "\x1b[" in r.stdout
    assert "201 Created" in r.stdout
    assert '"event"' in r.stdout


# -- against the local agent with real traffic ----------------------------------------


def test_local_agent_list_and_show(local_agent: Any) -> None:
    url = local_agent.api_url
    tunnel = local_agent.tunnels[0]
    responses = send_traffic(tunnel.public_url)
    r = invoke(["requests", "list", "--json", "--limit", "100", "--api-url", url])
    assert r.exit_code == 0, r.stderr
    records = json.loads(r.stdout)
    assert len(records) == len(responses)
    assert [x["status_code"] for x in reversed(records)] == [x.status_code for x in responses]
    assert all(x["tunnel"] == tunnel.name for x in records)

    hook = next(x for x in records if x["path"] == "/webhook")
    r = invoke(["requests", "show", hook["id"][:-2], "--body", "request", "--api-url", url])
    assert json.loads(r.stdout_bytes) == {
        "event": "push", "ref": "refs/heads/main", "count": 3, "nested": {"ok": True},
    }  # fmt: skip

    r = invoke(["requests", "list", "-q", "--errors", "--api-url", url])
    assert len(r.stdout.split()) == 2

    big = next(x for x in records if x["path"] == "/large")
    r = invoke(["requests", "show", big["id"], "--api-url", url])
    assert r.exit_code == 0
    assert f"Tunnel:   {tunnel.name}" in r.stdout
    assert tunnel.public_url in r.stdout


@pytest.mark.parametrize(
    "cmd",
    [
        ["requests", "list"],
        ["export", "--format", "har"],
        ["stats"],
        ["wait", "--timeout", "1s"],
        ["monitor"],
    ],
)
def test_an_unknown_tunnel_is_exit_4_naming_the_tunnels(local_agent: Any, cmd: list[str]) -> None:
    r = invoke([*cmd, "--tunnel", "nope", "--api-url", local_agent.api_url])
    names = ", ".join(sorted(t.name for t in local_agent.tunnels))
    assert r.exit_code == 4, r.stderr
    assert r.stdout == ""
    assert r.stderr.startswith(
        f"Error: no tunnel named 'nope' (tunnels: {names}); agent {local_agent.api_url}, "
        "address from --api-url\n"
    )
