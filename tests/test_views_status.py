"""``status`` on the local agent: UPSTREAM kept whole at 80 columns, what the counts
count, and ``-`` percentiles for a tunnel with no traffic."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.cli_invoke import invoke
from tests.support.live import send_traffic

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _table(url: str, columns: str) -> list[str]:
    r = invoke(
        ["status", "--no-color", "--api-url", url],
        env={"FORCE_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": columns},
    )
    assert r.exit_code == 0, r.stderr
    return ANSI.sub("", r.stdout).splitlines()


def test_status_keeps_upstream_whole_at_80_columns(local_agent: Any, upstream: Any) -> None:
    narrow = _table(local_agent.api_url, "80")
    head = next(line for line in narrow if line.startswith("NAME"))
    assert "UPSTREAM" in head.split()
    assert "PROTO" not in head.split() and "INSPECT" not in head.split()
    assert upstream.url.rstrip("/") in "\n".join(narrow)
    assert all(len(line) <= 80 for line in narrow)
    wide = next(line for line in _table(local_agent.api_url, "200") if line.startswith("NAME"))
    assert wide.split()[:5] == ["NAME", "PUBLIC", "URL", "UPSTREAM", "PROTO"]


def test_status_with_no_traffic_shows_dashes_then_counts(local_agent: Any) -> None:
    url = local_agent.api_url
    row = _table(url, "200")[-1].split()
    assert row[-3:] == ["0", "-", "-"]
    plain = invoke(["status", "--api-url", url]).stdout.splitlines()
    assert plain[3] == "Held:    0 captured requests now (SERVED: since the agent started)"
    send_traffic(local_agent.tunnels[0].public_url)
    invoke(["clear", "--yes", "--api-url", url])  # held drops to 0, served stays
    plain = invoke(["status", "--api-url", url]).stdout.splitlines()
    assert plain[3].startswith("Held:    0 captured")
    served = plain[-1].split("\t")
    assert served[5] == "12"
    assert served[6] != "-" and served[7] != "-"
    doc = json.loads(invoke(["status", "--json", "--api-url", url]).stdout)
    assert doc["requests_held"] == 0
