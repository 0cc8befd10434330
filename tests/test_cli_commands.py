"""``status``, ``replay``, ``clear`` and ``completions`` against real servers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.cli_invoke import invoke
from tests.support.live import send_traffic
from tests.support.servers import WEBHOOK_ID, FixtureAgentServer

# -- status -----------------------------------------------------------------------------


def test_status_plain_on_a_2x_agent(fixture_agent: FixtureAgentServer) -> None:
    r = invoke(["status", "--api-url", fixture_agent.url])
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"Agent:   {fixture_agent.url}"
    assert lines[1] == "Status:  online"
    assert lines[2] == "Version: unknown (2.x agent)"
    assert lines[3].startswith("Held:    ")
    assert lines[5].split("\t") == [
        "NAME", "PUBLIC URL", "UPSTREAM", "PROTO", "INSPECT", "SERVED", "P50", "P99",
    ]  # fmt: skip
    web = lines[6].split("\t")
    assert web[:6] == ["web", "http://127.0.0.1:8080", "http://localhost:8000", "http", "on", "12"]


def test_status_json(fixture_agent: FixtureAgentServer) -> None:
    r = invoke(["status", "--json", "--api-url", fixture_agent.url])
    doc = json.loads(r.stdout)
    assert doc["status"] == "online"
    assert doc["agent_version"] is None
    assert [t["name"] for t in doc["tunnels"]] == ["web"]
    assert doc["tunnels"][0]["metrics"]["http"]["count"] == 12


def test_status_quiet_and_table(fixture_agent: FixtureAgentServer) -> None:
    r = invoke(["status", "-q", "--api-url", fixture_agent.url])
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    r = invoke(
        ["status", "--api-url", fixture_agent.url],
        env={"FORCE_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": "120"},
    )
    assert "PUBLIC URL" in r.stdout and "P99 ms" in r.stdout and "\x1b[" in r.stdout


def test_status_local_agent(local_agent: Any) -> None:
    send_traffic(local_agent.tunnels[0].public_url)
    r = invoke(["status", "--json", "--api-url", local_agent.api_url])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    tunnel = doc["tunnels"][0]
    assert tunnel["public_url"] == local_agent.tunnels[0].public_url
    assert tunnel["metrics"]["http"]["count"] == 12


# -- replay -----------------------------------------------------------------------------


def test_replay_prints_the_new_entry(fixture_agent: FixtureAgentServer) -> None:
    r = invoke(["replay", WEBHOOK_ID, "--api-url", fixture_agent.url])
    assert r.exit_code == 0, r.stderr
    new_id, status, duration = r.stdout.rstrip("\n").split("\t")
    assert new_id != WEBHOOK_ID
    assert new_id == fixture_agent.current_list()[0]["id"]
    assert status == "201 Created"
    assert duration.endswith(" ms")


def test_replay_errors(fixture_agent: FixtureAgentServer) -> None:
    url = fixture_agent.url
    r = invoke(["replay", "airt_doesnotexist", "--api-url", url])
    assert r.exit_code == 4 and r.stdout == ""
    r = invoke(["replay", WEBHOOK_ID, "--tunnel", "nope", "--api-url", url])
    assert r.exit_code == 4
    assert r.stderr.startswith("Error: no tunnel named 'nope'")
    r = invoke(["replay", "airt_3Mk9", "--api-url", url])
    assert r.exit_code == 2


def test_replay_no_wait(fixture_agent: FixtureAgentServer) -> None:
    r = invoke(["replay", WEBHOOK_ID, "--no-wait", "--api-url", fixture_agent.url])
    assert r.exit_code == 0
    assert r.stdout == ""
    assert "accepted" in r.stderr


def test_replay_on_local_agent_reaches_the_upstream(local_agent: Any) -> None:
    send_traffic(local_agent.tunnels[0].public_url)
    url = local_agent.api_url
    listed = json.loads(invoke(["requests", "list", "--json", "--api-url", url]).stdout)
    hook = next(x for x in listed if x["path"] == "/webhook")
    r = invoke(["replay", hook["id"], "--json", "--api-url", url])
    assert r.exit_code == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["id"] != hook["id"]
    assert rec["status_code"] == 201
    assert rec["request"]["body"]["json"] == hook["request"]["body"]["json"]
    after = json.loads(invoke(["requests", "list", "--json", "--api-url", url]).stdout)
    assert after[0]["id"] == rec["id"]
    assert len(after) == len(listed) + 1


# -- clear ------------------------------------------------------------------------------


def test_clear_without_terminal_or_yes_refuses(fixture_agent: FixtureAgentServer) -> None:
    r = invoke(["clear", "--api-url", fixture_agent.url])
    assert r.exit_code == 2
    assert "--yes" in r.stderr
    assert len(fixture_agent.current_list()) == 12  # nothing deleted


def test_clear_yes_deletes_and_counts(fixture_agent: FixtureAgentServer) -> None:
    r = invoke(["clear", "--yes", "--json", "--api-url", fixture_agent.url])
    assert r.exit_code == 0
    assert json.loads(r.stdout) == {"api_url": fixture_agent.url, "deleted": 12}
    assert "Deleted 12 captured requests" in r.stderr
    assert fixture_agent.current_list() == []


def test_clear_on_a_terminal_asks(
    fixture_agent: FixtureAgentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ngrok_inspect.cli import cmd_clear

    monkeypatch.setattr(cmd_clear, "_stdin_is_terminal", lambda: True)
    r = invoke(["clear", "--api-url", fixture_agent.url], input="n\n")
    assert r.exit_code == 0
    assert "Delete 12 captured requests" in r.stderr
    assert "Nothing deleted" in r.stderr
    assert len(fixture_agent.current_list()) == 12
    r = invoke(["clear", "--api-url", fixture_agent.url], input="y\n")
    assert r.exit_code == 0
    assert fixture_agent.current_list() == []


def test_clear_prompt_takes_end_of_input_as_no(
    fixture_agent: FixtureAgentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ngrok_inspect.cli import cmd_clear

    monkeypatch.setattr(cmd_clear, "_stdin_is_terminal", lambda: True)
    r = invoke(["clear", "--api-url", fixture_agent.url], input="")  # Ctrl-D
    assert r.exit_code == 0
    assert "Nothing deleted" in r.stderr and "Interrupted" not in r.stderr
    assert len(fixture_agent.current_list()) == 12


def test_clear_local_agent(local_agent: Any) -> None:
    send_traffic(local_agent.tunnels[0].public_url)
    url = local_agent.api_url
    r = invoke(["clear", "-y", "--api-url", url])
    assert r.exit_code == 0
    assert "Deleted 12 captured requests" in r.stderr
    r = invoke(["requests", "list", "--json", "--api-url", url])
    assert r.stdout.strip() == "[]"


# -- requests list --follow (wired to cmd_follow.run_follow) ------------------------------


def test_list_follow_count_prints_new_requests(local_agent: Any) -> None:
    import threading
    import time

    import requests

    public = local_agent.tunnels[0].public_url
    requests.get(public + "/before", timeout=10)  # already held: not printed

    def later() -> None:
        time.sleep(0.8)
        requests.post(public + "/webhook?n=1", json={"n": 1}, timeout=10)
        requests.get(public + "/after", timeout=10)

    sender = threading.Thread(target=later)
    sender.start()
    r = invoke(
        ["requests", "list", "-f", "--count", "2", "--json", "--api-url", local_agent.api_url]
    )
    sender.join()
    assert r.exit_code == 0, r.stderr
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["uri"] for x in records] == ["/webhook?n=1", "/after"]


def test_replay_entry_never_appearing_exits_6(fixture_agent: FixtureAgentServer) -> None:
    # the recorded agent only knows how a replay of the webhook looks; replaying another
    # entry is accepted (204) but no new entry for it ever shows up
    newest = fixture_agent.current_list()[0]["id"]
    r = invoke(["--timeout", "0.5", "replay", newest, "--api-url", fixture_agent.url])
    assert r.exit_code == 6
    assert r.stdout == ""
    assert "no new entry appeared within 0.5s" in r.stderr
    assert "--no-wait" in r.stderr.splitlines()[1]


def test_replay_through_a_named_tunnel(fixture_agent: FixtureAgentServer) -> None:
    r = invoke(["replay", WEBHOOK_ID, "--tunnel", "web", "--json", "--api-url", fixture_agent.url])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["remote_addr"] == "replayed"


def test_config_file_finds_the_agent(fixture_agent: FixtureAgentServer, tmp_path: Any) -> None:
    port = fixture_agent.url.rsplit(":", 1)[1]
    cfg = tmp_path / "ngrok.yml"
    cfg.write_text(f'version: "2"\nweb_addr: localhost:{port}\n', encoding="utf-8")
    r = invoke(["status", "--json", "--config", str(cfg)])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["api_url"] == f"http://localhost:{port}"
    r = invoke(["requests", "list", "-q", "--config", str(cfg)])  # after the command too
    assert len(r.stdout.split()) == 12
    bad = tmp_path / "bad.yml"
    bad.write_text("web_addr: [unclosed\n", encoding="utf-8")
    r = invoke(["status", "--config", str(bad)])
    assert r.exit_code == 2
    assert r.stderr.startswith("Error: ")
