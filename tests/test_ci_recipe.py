"""The README's CI recipe, run as written, with another agent where the commands would look.

The trap it avoids: another agent (a developer's ngrok, a parallel job) holds 4040, so a
bare ``wait`` watches that one and the script's own traffic is never seen. Port 4040
itself may be busy while the suite runs (``-n 2``, other programs), so the other agent
listens on a free port and the hermetic ngrok.yml points the default lookup at it: the
commands of the script find it exactly as they would find an agent on 4040.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from ngrok_inspect.client import AgentClient
from ngrok_inspect.local_agent import LocalAgent
from tests.support.live import Upstream

README = Path(__file__).resolve().parent.parent / "README.md"
BIN_DIR = str(Path(sys.executable).parent)


def readme_ci_script() -> str:
    """The ``sh`` block of the README's "In CI" section, verbatim."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## In CI\n", 1)[1].split("\n## ", 1)[0]
    m = re.search(r"```sh\n(.*?)```", section, re.S)
    assert m, "no sh block in the README's In CI section"
    return m.group(1)


PUSH = {"ref": "refs/heads/main", "commits": [{"id": "c0ffee"}], "pusher": {"name": "jane"}}


@pytest.mark.skipif(shutil.which("curl") is None, reason="the recipe's sender is curl")
def test_readme_ci_recipe_passes_with_another_agent_on_the_default_address(
    tmp_path: Path, hermetic_env: Path, upstream: Upstream
) -> None:
    script = tmp_path / "ci.sh"
    script.write_text(readme_ci_script())
    (tmp_path / "push.json").write_text(json.dumps(PUSH))
    with LocalAgent(upstream.url, name="other") as other:
        # the other agent holds traffic of its own, and is where a bare command looks
        requests.get(other.public_url + "/theirs", timeout=10)
        cfg = hermetic_env / ".config" / "ngrok" / "ngrok.yml"
        cfg.parent.mkdir(parents=True, exist_ok=True)
        cfg.write_text(f'version: "3"\nagent:\n  web_addr: {other.api_url.split("//")[1]}\n')
        env = {
            **os.environ,
            "APP_PORT": upstream.url.rsplit(":", 1)[1],
            "PATH": BIN_DIR + os.pathsep + os.environ.get("PATH", ""),
        }
        p = subprocess.run(
            ["sh", str(script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert p.returncode == 0, p.stderr
        with AgentClient(other.api_url) as client:
            theirs = client.list_requests()
    assert [r.path for r in theirs] == ["/theirs"]  # the webhook never went to the other one
    record = json.loads((tmp_path / "webhook.json").read_text())
    assert (record["method"], record["path"], record["status_code"]) == ("POST", "/webhook", 201)
    assert record["request"]["body"]["json"] == PUSH
    har = json.loads((tmp_path / "traffic.har").read_text())
    assert [e["request"]["url"].rsplit("/", 1)[1] for e in har["log"]["entries"]] == ["webhook"]
    assert not (tmp_path / "agent.env").exists()  # removed when the agent stopped
    assert "Traceback" not in p.stderr


def test_the_recipe_fails_fast_when_its_agent_cannot_start(tmp_path: Path) -> None:
    # the app port is not a port: the agent exits 2 at once, and the script must not hang
    script = tmp_path / "ci.sh"
    script.write_text(readme_ci_script())
    env = {
        **os.environ,
        "APP_PORT": "not-a-port:x",
        "PATH": BIN_DIR + os.pathsep + os.environ.get("PATH", ""),
    }
    p = subprocess.run(
        ["sh", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert p.returncode != 0
    assert "Error: invalid" in p.stderr
    assert not (tmp_path / "webhook.json").exists()  # the wait never ran
