"""Which module defines which command, and loading only what a command line needs.

Start-up time is a feature: ``ngrok-inspect requests list --json`` imports and builds
only ``cmd_requests``, not the other ten command modules (their options, filters, the
expression language, rich). The root help, shell completion and an unknown command
load everything, so listings and suggestions stay complete.

Modules must stay cheap to import: heavy libraries (aiohttp, rich) are imported inside
the command functions that need them. Add one entry here per command module.
"""

from __future__ import annotations

import importlib
import os

#: Top-level command name -> module in ngrok_inspect.cli that registers it on the app.
COMMAND_MODULES: dict[str, str] = {
    "agent": "cmd_agent",
    "clear": "cmd_clear",
    "completions": "cmd_completions",
    "demo": "cmd_demo",
    "export": "cmd_export",
    "import": "cmd_import",
    "monitor": "cmd_monitor",
    "record": "cmd_record",
    "replay": "cmd_replay",
    "requests": "cmd_requests",
    "stats": "cmd_stats",
    "status": "cmd_status",
    "verify": "cmd_verify",
    "wait": "cmd_wait",
}

_COMPLETION_VAR = "_NGROK_INSPECT_COMPLETE"


def load_all() -> None:
    """Register every command (for the root help, completion, tests)."""
    for module in COMMAND_MODULES.values():
        importlib.import_module(f"ngrok_inspect.cli.{module}")


def load_for(command: str | None) -> None:
    """Register what the command line naming ``command`` needs (everything if unsure)."""
    module = COMMAND_MODULES.get(command or "")
    if module is None or os.environ.get(_COMPLETION_VAR):
        load_all()
    else:
        importlib.import_module(f"ngrok_inspect.cli.{module}")
