"""``--edit``: open the request in ``$VISUAL``/``$EDITOR`` and parse it back."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from ngrok_inspect.errors import UsageError
from ngrok_inspect.replay.httptext import ParseError, from_text, to_text
from ngrok_inspect.replay.message import OutgoingRequest


def editor_command() -> list[str]:
    """The editor to run; UsageError when none is set and we are not on a terminal."""
    cmd = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not cmd:
        if not sys.stdin.isatty():
            raise UsageError(
                "--edit needs an editor, and $VISUAL and $EDITOR are not set",
                hint="Set EDITOR (e.g. EDITOR=nano), or use -H/--body/--json-set instead",
            )
        cmd = "vi"
    return shlex.split(cmd)


def edit_request(
    req: OutgoingRequest, *, ask: Callable[[str], bool] | None = None
) -> OutgoingRequest:
    """Let the user edit ``req``; an unchanged buffer returns ``req`` itself. On a parse
    error ``ask`` (a yes/no prompt) decides whether to re-open; without one (not a
    terminal) the error is raised."""
    command = editor_command()
    original = to_text(req)
    with tempfile.TemporaryDirectory(prefix="ngrok-inspect-") as tmp:
        path = Path(tmp) / "request.http"
        path.write_text(original, encoding="utf-8")
        while True:
            try:
                done = subprocess.run([*command, str(path)], check=False)
            except OSError as e:
                raise UsageError(
                    f"cannot run the editor {command[0]!r} ({e.strerror or e})",
                    hint="Check $VISUAL / $EDITOR",
                ) from None
            if done.returncode != 0:
                raise UsageError(
                    f"the editor exited with status {done.returncode}; nothing was sent",
                    hint="Save and quit normally to replay",
                )
            text = path.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")
            if text == original:
                return req
            try:
                return from_text(text, req)
            except ParseError as e:
                if ask is None or not ask(f"{e.message}. Re-open the editor?"):
                    raise
