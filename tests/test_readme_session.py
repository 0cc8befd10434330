"""The README's local agent session runs as written on a fresh machine: in an empty
directory, by bash, with only its ports changed to free ones (the session's own commands,
in order; between them, what a person's typing gives: the servers are up)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _session() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## The local agent\n", 1)[1]
    block = section.split("```console\n", 1)[1].split("```", 1)[0]
    return [line[2:] for line in block.splitlines() if line.startswith("$ ")]


@pytest.mark.skipif(shutil.which("curl") is None, reason="the session uses curl")
def test_readme_local_agent_session_runs_as_written(tmp_path: Path) -> None:
    commands = _session()
    assert commands[0].startswith("echo ") and "> hello.json" in commands[0]
    app, public, api = _free_port(), _free_port(), _free_port()
    ready = tmp_path / "agent.env"
    script = ["set -m", f"export NGROK_INSPECT_API_URL=http://127.0.0.1:{api}"]
    for n, cmd in enumerate(commands):
        cmd = re.sub(r"\b3000\b", str(app), cmd)
        cmd = re.sub(r"\b8080\b", str(public), cmd)
        if cmd.startswith("ngrok-inspect agent "):
            # the one change: its API on a free port, and a ready signal to wait on
            cmd = cmd.replace(
                "ngrok-inspect agent ",
                f"ngrok-inspect agent --web-addr 127.0.0.1:{api} --ready-file {ready} ",
            )
            script += [cmd, f"until [ -s {ready} ]; do kill -0 $! || exit 9; sleep 0.05; done"]
            continue
        if cmd.startswith("python3 -m http.server"):
            script += [
                cmd.replace("python3", f'"{sys.executable}"', 1),
                f"until curl -s -o /dev/null http://127.0.0.1:{app}/; do sleep 0.05; done",
            ]
            continue
        script += [f"echo '>>> {n}'", cmd]
    script.append("wait")
    env = {**os.environ, "HOME": str(tmp_path)}
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout
    assert done.returncode == 0, (out, done.stderr)
    printed = {}
    for part in out.split(">>> ")[1:]:
        n, _, text = part.partition("\n")
        printed[commands[int(n)]] = text

    def output_of(start: str) -> str:
        return next(text for cmd, text in printed.items() if cmd.startswith(start))

    assert output_of("curl -s http").strip() == '{"hello":"world"}'  # the file it created
    listed = [line.split("\t") for line in output_of("ngrok-inspect requests list").splitlines()]
    assert [row[:3] for row in listed] == [
        ["POST", "/webhook", "501"],
        ["GET", "/hello.json", "200"],
    ]
    assert output_of("ngrok-inspect requests show").strip() == "event=push"
    assert "Stopped." in done.stderr
