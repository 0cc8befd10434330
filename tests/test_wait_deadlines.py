"""The global per-call --api-timeout (old spelling --timeout) and wait's whole --timeout."""

from __future__ import annotations

from typing import Any

from tests.cli_invoke import invoke


def test_api_timeout_is_not_the_wait_deadline(local_agent: Any) -> None:
    # --api-timeout 5 limits each call; wait --timeout 0.2 is the whole wait: it ends at 0.2s
    for spelling in ("--api-timeout", "--timeout"):
        args = [spelling, "5", "--api-url", local_agent.api_url]
        r = invoke([*args, "wait", "--path", "/never", "--timeout", "0.2"])
        assert r.exit_code == 6, r.stderr
        assert r.stdout == ""
        first = r.stderr.splitlines()[0]
        assert first.startswith("Waiting up to 0.2s for 1 new request matching path /never")
        assert "; wait --timeout is the whole wait, --api-timeout limits each agent call" in first
        assert "timed out after 0.2s" in r.stderr
