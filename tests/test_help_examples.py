"""Every command's --help ends with examples (issue 4: '--help on every command with
examples')."""

from __future__ import annotations

import pytest

from tests.cli_invoke import invoke

COMMANDS = [
    ["status"],
    ["requests", "list"],
    ["requests", "show"],
    ["replay"],
    ["clear"],
    ["export"],
    ["agent"],
    ["wait"],
    ["stats"],
    ["monitor"],
    ["demo"],
    ["completions"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_has_examples(command: list[str]) -> None:
    r = invoke([*command, "--help"])
    assert r.exit_code == 0, r.stderr
    heading = "Install (then open a new shell):" if command == ["completions"] else "Examples:"
    assert heading in r.stdout
    examples = r.stdout.split(heading, 1)[1]
    assert f"ngrok-inspect {command[0]}" in examples
