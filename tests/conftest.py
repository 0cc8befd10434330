"""Hermetic test environment, and the shared server fixtures.

Every test runs with no NGROK_* or colour variables, config lookups pointed at an empty
temp dir, a fixed terminal width, and this interpreter's scripts directory first on
PATH, so the tests that run ``ngrok-inspect`` (or ``curl`` beside it) get this
checkout's whether or not its venv is activated (the README runs
``.venv/bin/python -m pytest`` as is). Server fixtures live in ``tests/support/``.
"""

from __future__ import annotations

import os
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.support.servers",
    "tests.support.live",
]

FIXTURES = Path(__file__).parent / "fixtures" / "agent-2.3.41"


@pytest.fixture(autouse=True)
def hermetic_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Clear NGROK_*/colour variables, point config lookups at an empty temp home."""
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith(("NGROK", "FORCE_COLOR", "CLICOLOR")) or name in {
            "NO_COLOR",
            "TERM",
            "COLUMNS",
            "LINES",
            "XDG_CONFIG_HOME",
            "LOCALAPPDATA",
        }:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.setenv("PATH", sysconfig.get_path("scripts") + os.pathsep + os.environ["PATH"])
    yield home


@pytest.fixture
def fixtures_dir() -> Path:
    """The recorded answers of a real ngrok 2.3.41 agent."""
    return FIXTURES
