"""Importing this module registers every command on :data:`ngrok_inspect.cli.app.app`.

One import line per command module. Modules must stay cheap to import: heavy libraries
(aiohttp, rich) are imported inside the command functions that need them.
"""

from __future__ import annotations
