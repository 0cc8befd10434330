"""Abbreviated ids (shortest unique prefix, git-style) and the cut-list notice of
``requests list``, on the local agent with real traffic."""

from __future__ import annotations

import json
import re
from typing import Any

from ngrok_inspect.ids import unique_prefix_lengths
from ngrok_inspect.local_agent.ksuid import request_id
from tests.cli_invoke import invoke
from tests.support.live import send_traffic

ANSI = re.compile(r"\x1b\[[0-9;]*m")
BOLD_ID = re.compile(r"\x1b\[1m(airt_[0-9A-Za-z]+)\x1b\[0m\x1b\[2m([0-9A-Za-z]*)")
TERMINAL = {"FORCE_COLOR": "1", "TERM": "xterm-256color"}


def test_prefixes_are_at_least_eight_after_airt_and_unique() -> None:
    ids = [request_id(1_800_000_000) for _ in range(2000)]
    lengths = unique_prefix_lengths(ids)
    prefixes = [i[: lengths[i]] for i in ids]
    assert all(n >= len("airt_") + 8 for n in lengths.values())
    for i, p in zip(ids, prefixes, strict=True):
        assert [j for j in ids if j.startswith(p)] == [i]
    # shortest: one character less would be shared (or below the minimum of 8)
    for i in ids:
        n = lengths[i]
        if n > len("airt_") + 8:
            assert sum(j.startswith(i[: n - 1]) for j in ids) > 1


def test_prefix_grows_past_the_minimum_when_ids_share_more() -> None:
    a, b = "airt_ABCDEFGHIJKL1", "airt_ABCDEFGHIJKL2"
    assert unique_prefix_lengths([a, b, "airt_Z0000000000"]) == {
        a: len(a), b: len(b), "airt_Z0000000000": 13,
    }  # fmt: skip
    assert unique_prefix_lengths(["short"]) == {"short": 5}


def test_list_on_a_terminal_emphasises_the_prefix_and_show_accepts_it(local_agent: Any) -> None:
    send_traffic(local_agent.tunnels[0].public_url)
    url = local_agent.api_url
    for columns in ("80", "200"):
        r = invoke(["requests", "list", "--api-url", url], env={**TERMINAL, "COLUMNS": columns})
        assert r.exit_code == 0, r.stderr
        found = BOLD_ID.findall(r.stdout)
        assert len(found) == 12
        full_ids = invoke(["requests", "list", "-q", "--api-url", url]).stdout.split()
        assert [p + rest for p, rest in found] == full_ids  # the whole id stays on screen
        for line in ANSI.sub("", r.stdout).splitlines():
            assert len(line) <= int(columns)
    prefix = found[3][0]
    assert len(prefix) >= len("airt_") + 8
    shown = invoke(["requests", "show", prefix, "--json", "--api-url", url])
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)["id"] == found[3][0] + found[3][1]
    bare = invoke(["requests", "show", prefix.removeprefix("airt_"), "--api-url", url])
    assert bare.exit_code == 0, bare.stderr


def test_prefix_is_unique_across_the_history_not_only_the_page(local_agent: Any) -> None:
    send_traffic(local_agent.tunnels[0].public_url)
    url = local_agent.api_url
    held = invoke(["requests", "list", "-q", "--api-url", url]).stdout.split()
    r = invoke(["requests", "list", "-n", "2", "--api-url", url], env={**TERMINAL})
    found = BOLD_ID.findall(r.stdout)
    lengths = unique_prefix_lengths(held)
    assert [len(p) for p, _ in found] == [lengths[i] for i in held[:2]]
    # a prefix that several held ids share is refused with the candidates, not guessed
    common = held[0][:7]  # 'airt_' + the timestamp's first characters: all 12 share it
    amb = invoke(["requests", "show", common, "--api-url", url])
    assert amb.exit_code == 2, amb.stderr
    assert f"matches {len(held)} requests" in amb.stderr
    assert amb.stdout == ""


def test_list_on_a_terminal_says_when_it_cut(local_agent: Any) -> None:
    send_traffic(local_agent.tunnels[0].public_url)
    url = local_agent.api_url
    r = invoke(["requests", "list", "-n", "5", "--api-url", url], env={**TERMINAL})
    assert r.exit_code == 0
    assert r.stderr == "showing 5 of 12 (use --limit)\n"
    whole = invoke(["requests", "list", "-n", "50", "--api-url", url], env={**TERMINAL})
    assert whole.stderr == ""
    filtered = invoke(
        ["requests", "list", "-n", "1", "--method", "POST", "--api-url", url], env={**TERMINAL}
    )
    assert filtered.stderr == "showing 1 of 3 (use --limit)\n"
    piped = invoke(["requests", "list", "-n", "5", "--api-url", url])
    assert piped.stderr == ""  # a pipe asked for 5 and got 5: nothing to say
    assert len(piped.stdout.splitlines()) == 5


def test_show_body_ends_with_a_newline_on_a_terminal_only(local_agent: Any) -> None:
    send_traffic(local_agent.tunnels[0].public_url)
    url = local_agent.api_url
    hook = invoke(["requests", "list", "-q", "--path", "/webhook", "--api-url", url]).stdout
    args = ["requests", "show", hook.strip(), "--body", "request", "--api-url", url]
    piped = invoke(args)
    assert piped.exit_code == 0, piped.stderr
    assert piped.stdout_bytes.startswith(b"{") and not piped.stdout_bytes.endswith(b"\n")
    tty = invoke(args, env={**TERMINAL})
    assert tty.stdout_bytes == piped.stdout_bytes + b"\n"
