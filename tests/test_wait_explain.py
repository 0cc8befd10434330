"""A wait that times out says what arrived instead: ``RequestFilter.explain`` and
``Expression.explain`` on real captures, and ``wait``'s message through the CLI."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from ngrok_inspect.client import AgentClient
from ngrok_inspect.filters import RequestFilter
from ngrok_inspect.models import CapturedRequest
from ngrok_inspect.watch import WaitTimeoutError, near_misses, wait_for
from tests.cli_invoke import run_cli
from tests.support.live import send_traffic
from tests.test_wait import sender


def _captures(agent: Any) -> list[CapturedRequest]:
    with AgentClient(agent.api_url) as client:
        return client.list_requests(limit=1000)


def _push(agent: Any, ref: str, **headers: str) -> None:
    requests.post(
        agent.tunnels[0].public_url + "/webhook",
        json={"ref": ref, "password": "hunter2", "n": 1},
        headers={"X-GitHub-Event": "push", **headers},
        timeout=10,
    )


def test_explain_says_each_missed_condition_with_the_value_it_had(local_agent: Any) -> None:
    _push(local_agent, "refs/heads/dev", Authorization="Bearer s3cret-token")
    [req] = _captures(local_agent)
    flt = RequestFilter.parse(
        method="PUT",
        status="5xx",
        path="/webhook",
        header=["X-GitHub-Event: ping", "Authorization: Bearer other"],
        where='req.json.ref == "refs/heads/main" and req.json.n >= 1 '
        'and req.json.password == "x" and req.header.x-missing != null',
    )
    check = flt.explain(req)
    assert check.criteria == 5 + 4  # five flags/headers, four operands of the and
    assert check.partial and not check.matched
    assert list(check.missed) == [
        "method was 'POST'",
        "status was 201",
        "header 'X-GitHub-Event' was 'push'",
        "header 'Authorization' was [REDACTED]",
        'req.json.ref was "refs/heads/dev" (wanted req.json.ref == "refs/heads/main")',
        'req.json.password was [REDACTED] (wanted req.json.password == "x")',
        'req.header["x-missing"] was missing (wanted req.header["x-missing"] != null)',
    ]
    joined = "\n".join(check.missed)
    assert "hunter2" not in joined and "s3cret" not in joined  # secrets are not repeated


def test_explain_agrees_with_matches(local_agent: Any) -> None:
    send_traffic(local_agent.tunnels[0].public_url)
    reqs = _captures(local_agent)
    assert len(reqs) == 12
    filters = [
        RequestFilter(),
        RequestFilter.parse(method="POST"),
        RequestFilter.parse(status="2xx", path="/search*"),
        RequestFilter.parse(errors=True, tunnel="command_line"),
        RequestFilter.parse(tunnel="other", body_contains="push"),
        RequestFilter.parse(where='status >= 400 or method == "DELETE"'),
        RequestFilter.parse(where='not (path ~ "^/s") and res.header.content-type ~ "json"'),
        RequestFilter.parse(header="Content-Type: application/*", since="1h"),
    ]
    for flt in filters:
        for r in reqs:
            check = flt.explain(r)
            assert check.matched == flt.matches(r), (flt, r.path)
            assert len(check.missed) <= check.criteria


def test_near_misses_prefer_those_that_matched_part(local_agent: Any) -> None:
    send_traffic(local_agent.tunnels[0].public_url)
    _push(local_agent, "refs/heads/dev")
    arrived = list(reversed(_captures(local_agent)))  # oldest first, as a wait sees them
    flt = RequestFilter.parse(method="POST", where='req.json.ref == "refs/heads/main"')
    near = near_misses(flt, arrived)
    assert [m.request.path for m in near] == ["/webhook", "/upload", "/form"]  # newest first
    assert all(m.partial for m in near)
    assert near[0].missed == (
        'req.json.ref was "refs/heads/dev" (wanted req.json.ref == "refs/heads/main")',
    )
    # nothing matched any part: the most recent ones anyway, with everything they missed
    none = near_misses(RequestFilter.parse(method="PATCH"), arrived, limit=2)
    assert [m.missed for m in none] == [("method was 'POST'",), ("method was 'GET'",)]
    assert not any(m.partial for m in none)


def test_wait_for_timeout_carries_the_near_misses(local_agent: Any) -> None:
    _push(local_agent, "refs/heads/dev")
    with pytest.raises(WaitTimeoutError) as info:
        wait_for(
            local_agent.api_url,
            RequestFilter.parse(path="/webhook", where='req.json.ref == "refs/heads/main"'),
            timeout=0.3,
            include_existing=True,
            poll_interval=0.05,
        )
    exc = info.value
    assert exc.matched == []
    assert "0 matched, 1 other arrived" in exc.message
    [miss] = exc.near_misses
    assert miss.request.path == "/webhook"
    assert exc.explanation.splitlines() == [
        "Arrived but did not match (most recent first; they matched part of the filter):",
        f'  {miss.request.id}  POST /webhook 201: req.json.ref was "refs/heads/dev" '
        '(wanted req.json.ref == "refs/heads/main")',
    ]


def test_wait_cli_timeout_says_what_arrived(
    capfd: pytest.CaptureFixture[str], local_agent: Any
) -> None:
    url = str(local_agent.tunnels[0].public_url).rstrip("/")
    cmd = sender(url + "/webhook", body={"event": "push", "ref": "refs/heads/dev"})
    code, out, err = run_cli(
        capfd,
        "--api-url", local_agent.api_url,
        "wait", "--method", "POST", "--path", "/webhook",
        "--where", 'req.json.ref == "refs/heads/main"',
        "--exec", cmd, "--timeout", "4s",
    )  # fmt: skip
    assert code == 6
    assert out == ""
    lines = err.splitlines()
    start = lines.index(
        "Arrived but did not match (most recent first; they matched part of the filter):"
    )
    assert lines[start + 1].startswith("  airt_")
    assert lines[start + 1].endswith(
        'POST /webhook 201: req.json.ref was "refs/heads/dev" '
        '(wanted req.json.ref == "refs/heads/main")'
    )
    assert lines[start + 2].startswith("Error: timed out after 4s waiting for 1 request")
    assert "0 matched, 1 other arrived" in lines[start + 2]
