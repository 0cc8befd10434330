"""Importing this module registers every command on :data:`ngrok_inspect.cli.app.app`.

One import line per command module. Modules must stay cheap to import: heavy libraries
(aiohttp, rich) are imported inside the command functions that need them.
"""

from __future__ import annotations

from ngrok_inspect.cli import cmd_monitor as cmd_monitor
from ngrok_inspect.cli import cmd_stats as cmd_stats
from ngrok_inspect.cli import cmd_wait as cmd_wait
