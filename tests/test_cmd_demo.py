"""`ngrok-inspect demo`: the README's first command. It must run on a fresh machine with
nothing listening, capture every sample request, and show them as list and show do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests

from ngrok_inspect.client import AgentClient
from ngrok_inspect.demo import SAMPLE_TRAFFIC, DemoUpstream, send_sample_traffic
from ngrok_inspect.local_agent import LocalAgent
from tests.cli_invoke import invoke


def test_demo_captures_every_sample_request_and_shows_the_webhook() -> None:
    r = invoke(["demo"])
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    listed = [ln.split("\t") for ln in lines if ln.startswith("airt_")]
    assert len(listed) == len(SAMPLE_TRAFFIC)
    # piped: tab-separated rows, newest first: id, time, tunnel, method, path, status, ...
    assert [(row[3], row[4].split("?")[0], row[5]) for row in reversed(listed)] == [
        ("GET", "/api/orders", "200"),
        ("POST", "/webhooks/github", "202"),
        ("POST", "/login", "401"),
        ("GET", "/api/report", "200"),
        ("GET", "/favicon.ico", "404"),
        ("GET", "/api/crash", "500"),
    ]
    assert {row[2] for row in listed} == {"demo"}
    # then the webhook in detail, its JSON body decoded and pretty-printed
    assert any(ln.startswith("Request:  POST http://127.0.0.1:") for ln in lines)
    assert '  "full_name": "acme/shop",' in r.stdout
    assert "X-GitHub-Event: push" in r.stdout
    assert "Sent 6 requests" in r.stderr


def test_sample_service_answers_as_the_demo_promises(tmp_path: Path) -> None:
    with DemoUpstream() as up, LocalAgent(up.url, name="t") as agent:
        assert send_sample_traffic(agent.tunnels[0].public_url) == len(SAMPLE_TRAFFIC)
        with AgentClient(agent.api_url) as client:
            reqs = {r.path: r for r in client.list_requests()}
        report = reqs["/api/report"]
        assert report.response is not None
        assert report.response.body.encoding == "gzip"
        assert report.response.body.json == {"day": "today", "orders": 42, "revenue": 1234.5}
        hook = reqs["/webhooks/github"]
        assert hook.request.header("X-Hub-Signature-256", "").startswith("sha256=")
        assert json.loads(hook.request.body.data)["pusher"] == {"name": "jane"}
        assert requests.get(up.url + "/nope", timeout=5).status_code == 404


def test_installed_demo_command_exits_0_with_data_on_stdout_only() -> None:
    p = subprocess.run(
        [sys.executable, "-m", "ngrok_inspect", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("airt_") >= len(SAMPLE_TRAFFIC)
    assert "Local agent:" in p.stderr and "Local agent:" not in p.stdout
