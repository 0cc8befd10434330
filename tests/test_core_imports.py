"""The core never loads typer, rich or aiohttp (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CORE = [
    "ngrok_inspect",
    "ngrok_inspect.errors",
    "ngrok_inspect.settings",
    "ngrok_inspect.bodies",
    "ngrok_inspect.models",
    "ngrok_inspect.client",
    "ngrok_inspect.agent",
]
BANNED = ("typer", "rich", "aiohttp", "click")


def loaded_after_import(modules: list[str], extra: str = "") -> list[str]:
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"{extra}\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {BANNED!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    result: list[str] = json.loads(out.stdout)
    return result


@pytest.mark.parametrize("module", CORE)
def test_core_module_loads_no_ui_or_server_libraries(module: str) -> None:
    assert loaded_after_import([module]) == []


def test_public_api_and_parsing_load_none_either() -> None:
    extra = (
        "import ngrok_inspect as ni\n"
        "from ngrok_inspect import agent, ngrok\n"
        "_ = (ni.AgentClient, ni.CapturedRequest, ni.resolve_settings, ngrok.connect)\n"
        "from pathlib import Path\n"
        "p = Path('tests/fixtures/agent-2.3.41/requests.json')\n"
        "[ni.CapturedRequest.from_api(e).to_dict() for e in json.loads(p.read_text())['requests']]"
    )
    assert loaded_after_import(["ngrok_inspect"], extra) == []


def test_the_check_can_fail() -> None:
    """The probe does see a banned library when one is imported."""
    assert "rich" in loaded_after_import(["ngrok_inspect", "rich"])


def test_public_names() -> None:
    import ngrok_inspect

    for name in ngrok_inspect.__all__:
        assert getattr(ngrok_inspect, name) is not None
    assert ngrok_inspect.__version__
    with pytest.raises(AttributeError):
        _ = ngrok_inspect.no_such_name  # type: ignore[attr-defined]
