"""Print a pip constraints file pinning every runtime dependency to its declared floor.

CI installs the project with it in a second venv and runs the suite, so a floor in
pyproject.toml is a version that has been shown to work, not a guess.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
for spec in pyproject["project"]["dependencies"]:
    requirement, _, marker = spec.partition(";")
    match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*.*?>=\s*([0-9][^,\s]*)", requirement)
    if match is None:
        sys.exit(f"no floor (>=) in dependency {spec!r}")
    name, floor = match.groups()
    print(f"{name}=={floor}" + (f"; {marker.strip()}" if marker else ""))
