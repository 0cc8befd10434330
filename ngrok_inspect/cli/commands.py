"""Importing this module registers every command on :data:`ngrok_inspect.cli.app.app`.

One import line per command module. Modules must stay cheap to import: heavy libraries
(aiohttp, rich) are imported inside the command functions that need them.
"""

from __future__ import annotations

from ngrok_inspect.cli import cmd_agent as cmd_agent
from ngrok_inspect.cli import cmd_clear as cmd_clear
from ngrok_inspect.cli import cmd_completions as cmd_completions
from ngrok_inspect.cli import cmd_export as cmd_export
from ngrok_inspect.cli import cmd_monitor as cmd_monitor
from ngrok_inspect.cli import cmd_replay as cmd_replay
from ngrok_inspect.cli import cmd_stats as cmd_stats
from ngrok_inspect.cli import cmd_status as cmd_status
from ngrok_inspect.cli import cmd_wait as cmd_wait
from ngrok_inspect.cli.app import app
from ngrok_inspect.cli.cmd_requests import requests_app

app.add_typer(requests_app, name="requests")
