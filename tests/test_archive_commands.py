"""Every reading command on ``--db`` answers as it does on the agent for the same captures,
and replay works from the archive (to a URL, or through the running agent's tunnel)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.cli_invoke import invoke
from tests.support.live import Upstream, send_traffic
from tests.test_cli_verify import SECRET, deliver, stripe_header


@pytest.fixture
def recorded(local_agent: Any, tmp_path: Path) -> tuple[Any, Path]:
    """The local agent after the fixture traffic and three Stripe deliveries, and an archive
    that recorded every one of its captures."""
    pub = local_agent.tunnels[0].public_url
    send_traffic(pub)
    body = b'{"type":"invoice.paid","amount":1200}'
    now = int(time.time())
    ctype = {"Content-Type": "application/json"}
    deliver(pub, "/hook/good", body, {**ctype, "Stripe-Signature": stripe_header(body, now)})
    deliver(pub, "/hook/bad", body + b" ", {**ctype, "Stripe-Signature": stripe_header(body, now)})
    deliver(pub, "/hook/old", body, {**ctype, "Stripe-Signature": stripe_header(body, now - 7200)})
    held = requests.get(local_agent.api_url + "/api/requests/http", timeout=10).json()["requests"]
    db = tmp_path / "captures.sqlite"
    r = invoke(
        ["record", "--db", str(db), "--count", str(len(held)), "--api-url", local_agent.api_url]
    )
    assert r.exit_code == 0, r.stderr
    assert f"{len(held)} new captures stored" in r.stderr
    return local_agent, db


READING = [
    ["requests", "list", "--json"],
    ["requests", "list", "--json", "--limit", "3"],
    ["requests", "list", "--json", "--status", "4xx,5xx"],
    ["requests", "list", "--json", "--method", "POST", "--path", "/hook/*"],
    ["requests", "list", "--json", "--where", 'req.header.content-type == "application/json"'],
    ["requests", "list", "--json", "--errors", "--since", "1h"],
    ["requests", "list", "--json", "--tunnel", "command_line", "--body-contains", "hello"],
    ["requests", "list", "-q", "--header", "Stripe-Signature: t=*"],
    ["requests", "list", "--json", "--redact"],
    ["stats", "--json"],
    ["stats", "--json", "--path", "/hook/*", "--top", "2"],
    ["export", "--format", "json"],
    ["export", "--format", "ndjson", "--errors"],
    ["export", "--format", "raw", "--no-redact"],
    ["export", "--format", "har"],
    ["export", "--format", "curl", "--method", "POST"],
    ["export", "--format", "json", "--limit", "2", "--redact", "amount"],
    ["verify", "--path", "/hook/*", "--secret", SECRET, "--json"],
    ["verify", "--path", "/hook/good", "--secret", SECRET],
]


@pytest.mark.parametrize("args", READING, ids=[" ".join(a) for a in READING])
def test_each_reading_command_answers_the_same_on_db(
    recorded: tuple[Any, Path], args: list[str]
) -> None:
    agent, db = recorded
    live = invoke([*args, "--api-url", agent.api_url])
    archived = invoke([*args, "--db", str(db)])
    assert live.stdout_bytes, live.stderr  # a comparison of two empty answers proves nothing
    assert (archived.exit_code, archived.stdout) == (live.exit_code, live.stdout), args


def test_show_and_verify_by_id_answer_the_same_on_db(recorded: tuple[Any, Path]) -> None:
    agent, db = recorded
    listed = json.loads(invoke(["requests", "list", "--json", "--db", str(db)]).stdout)
    good = next(x["id"] for x in listed if x["path"] == "/hook/good")
    for args in (
        ["requests", "show", "last", "--json"],
        ["requests", "show", good, "--json"],
        ["requests", "show", good, "--raw"],
        ["requests", "show", good[:22], "--body", "request"],
        ["verify", good, "--secret", SECRET, "--json"],
    ):
        live = invoke([*args, "--api-url", agent.api_url])
        archived = invoke([*args, "--db", str(db)])
        assert live.exit_code == 0, live.stderr
        assert (archived.exit_code, archived.stdout_bytes) == (0, live.stdout_bytes), args


def test_tunnel_filter_on_db_does_not_ask_the_agent(recorded: tuple[Any, Path]) -> None:
    agent, db = recorded
    # the agent has no tunnel 'gone' (exit 4 there); an archive may hold tunnels long gone
    assert (
        invoke(["requests", "list", "--tunnel", "gone", "--api-url", agent.api_url]).exit_code == 4
    )
    r = invoke(
        ["requests", "list", "--tunnel", "gone", "--db", str(db), "--api-url", agent.api_url]
    )
    assert (r.exit_code, r.stdout) == (0, "")
    assert "No captured requests" in r.stderr


def test_replay_from_db_to_a_url(recorded: tuple[Any, Path], upstream: Upstream) -> None:
    agent, db = recorded
    agent.stop()  # replay --to needs no agent at all
    listed = json.loads(invoke(["requests", "list", "--json", "--db", str(db)]).stdout)
    hook = next(x for x in listed if x["path"] == "/hook/good")
    r = invoke(
        ["replay", hook["id"], "--db", str(db), "--to", upstream.url, "--json", "--show-response"]
    )
    assert r.exit_code == 0, r.stderr
    sent = json.loads(r.stdout)
    assert sent["replay_of"] == hook["id"] and sent["status_code"] == 200
    # edits apply to an archived capture as to a live one; the upstream echoes what it got
    r = invoke(
        ["replay", hook["id"], "--db", str(db), "--to", upstream.url, "--show-response",
         "-H", "X-Replayed: yes", "--json-set", "amount=7"]
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    echoed = json.loads(r.stdout.split("\n\n", 1)[1])
    assert ["X-Replayed", "yes"] in echoed["headers"]
    assert json.loads(echoed["body"])["amount"] == 7
    assert "Warning" in r.stderr and "stripe" in r.stderr  # edited signed body: told


def test_replay_from_db_through_the_agent_and_resign(recorded: tuple[Any, Path]) -> None:
    agent, db = recorded
    assert invoke(["clear", "--yes", "--api-url", agent.api_url]).exit_code == 0
    listed = json.loads(invoke(["requests", "list", "--json", "--db", str(db)]).stdout)
    old = next(x for x in listed if x["path"] == "/hook/old")
    r = invoke(
        ["replay", old["id"], "--db", str(db), "--resign", "stripe", "--secret", SECRET,
         "--json", "--api-url", agent.api_url]
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    new_id = json.loads(r.stdout)["id"]
    assert new_id and new_id != old["id"]
    # the agent captured the replay (its history was cleared: it came from the archive)
    v = invoke(["verify", new_id, "--secret", SECRET, "--json", "--api-url", agent.api_url])
    assert v.exit_code == 0, v.stderr
    assert json.loads(v.stdout)[0]["status"] == "valid"
    shown = invoke(["requests", "show", new_id, "--json", "--api-url", agent.api_url])
    assert json.loads(shown.stdout)["remote_addr"] == "replayed"  # sent by the agent itself
    assert SECRET not in r.stdout + r.stderr + v.stdout + v.stderr


def test_replay_all_from_db(recorded: tuple[Any, Path], upstream: Upstream) -> None:
    _, db = recorded
    r = invoke(
        ["replay", "--all", "--db", str(db), "--where", 'path ~ "/hook/*"', "--to", upstream.url]
    )
    assert r.exit_code == 0, r.stderr
    assert len(r.stdout.splitlines()) == 3
    assert "Replayed 3 of 3" in r.stderr


def test_replay_unknown_id_in_db_is_exit_4(recorded: tuple[Any, Path], upstream: Upstream) -> None:
    _, db = recorded
    r = invoke(["replay", "airt_nope", "--db", str(db), "--to", upstream.url])
    assert (r.exit_code, r.stdout) == (4, "")
