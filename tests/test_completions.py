"""The scripts in completions/ are what ``ngrok-inspect completions SHELL`` prints, and the
completion protocol they rely on answers through the real entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_invoke import invoke

ROOT = Path(__file__).resolve().parent.parent
FILES = {
    "bash": ROOT / "completions" / "ngrok-inspect.bash",
    "zsh": ROOT / "completions" / "_ngrok-inspect",
    "fish": ROOT / "completions" / "ngrok-inspect.fish",
}


@pytest.mark.parametrize("shell", sorted(FILES))
def test_completion_scripts_are_current(shell: str) -> None:
    r = invoke(["completions", shell])
    assert r.exit_code == 0
    assert r.stdout.strip(), shell
    assert FILES[shell].read_text(encoding="utf-8") == r.stdout, (
        f"completions/{FILES[shell].name} is stale: run "
        f"'ngrok-inspect completions {shell} > completions/{FILES[shell].name}'"
    )


def test_bash_completion_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_NGROK_INSPECT_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", "ngrok-inspect requests list --sta")
    monkeypatch.setenv("COMP_CWORD", "3")
    r = invoke([])
    assert r.exit_code == 0
    assert r.stdout.split() == ["--status"]
    monkeypatch.setenv("COMP_WORDS", "ngrok-inspect req")
    monkeypatch.setenv("COMP_CWORD", "1")
    assert invoke([]).stdout.split() == ["requests"]


def test_unknown_shell_exits_2() -> None:
    r = invoke(["completions", "tcsh"])
    assert r.exit_code == 2
    assert "bash, zsh, fish" in r.stderr
