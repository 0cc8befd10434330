"""A capture archive that outlives the agent: one SQLite file (docs/archive.md).

:mod:`.schema` opens the file and migrates it, :mod:`.store` writes captures into it,
:mod:`.source` reads them back like an agent client.
"""

from __future__ import annotations

from ngrok_inspect.archive.schema import SCHEMA_VERSION, ArchiveError, open_archive
from ngrok_inspect.archive.source import ArchiveSource
from ngrok_inspect.archive.store import ArchiveWriter

__all__ = ["SCHEMA_VERSION", "ArchiveError", "ArchiveSource", "ArchiveWriter", "open_archive"]
