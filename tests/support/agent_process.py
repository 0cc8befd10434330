"""A LocalAgent in a child process, for tests that need its own file limit or its RSS.

The child prints one JSON line (``api_url``, ``public_url``) on stdout once it serves,
writes the agent's notices to stderr, and stops when its stdin closes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

RUNNER = """
import json, resource, sys
nofile = {nofile!r}
if nofile is not None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
from ngrok_inspect.local_agent import LocalAgent
def notice(text):
    sys.stderr.write(text + "\\n"); sys.stderr.flush()
agent = LocalAgent(on_notice=notice, **json.loads({kwargs!r}))
agent.start()
print(json.dumps({{"api_url": agent.api_url, "public_url": agent.public_url}}), flush=True)
sys.stdin.read()
agent.stop()
"""


class AgentProcess:
    """``LocalAgent(**kwargs)`` running in a child process (optionally with a file limit)."""

    def __init__(self, *, nofile: int | None = None, **kwargs: Any) -> None:
        code = RUNNER.format(nofile=nofile, kwargs=json.dumps(kwargs))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            _, err = self.proc.communicate(timeout=30)
            raise AssertionError(f"the agent process did not start: {err}")
        info = json.loads(line)
        self.api_url: str = info["api_url"]
        self.public_url: str = info["public_url"]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_bytes(self) -> int:
        """The child's resident set size (Linux ``/proc/PID/status`` VmRSS)."""
        status = Path(f"/proc/{self.pid}/status").read_text(encoding="ascii")
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS in /proc status")

    def stop(self) -> str:
        """Stop the child; its stderr."""
        if self.proc.poll() is None:
            try:
                _, err = self.proc.communicate(input="", timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                _, err = self.proc.communicate(timeout=10)
            return err
        return self.proc.stderr.read() if self.proc.stderr else ""

    def __enter__(self) -> AgentProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
