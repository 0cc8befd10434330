"""Run the ``ngrok-inspect`` command line in-process through its real error boundary.

``invoke(args)`` uses :class:`typer.testing.CliRunner`'s isolation (captured stdout and
stderr kept apart, stdin from ``input``) around :func:`ngrok_inspect.cli.run`, so exit
codes and messages are exactly what the installed script produces.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner

from ngrok_inspect.cli import run


@dataclass
class Outcome:
    """What one command line did."""

    exit_code: int
    stdout_bytes: bytes
    stderr: str

    @property
    def stdout(self) -> str:
        """stdout decoded as UTF-8."""
        return self.stdout_bytes.decode("utf-8")


def invoke(
    args: list[str],
    *,
    input: str | bytes | None = None,
    env: Mapping[str, str | None] | None = None,
) -> Outcome:
    """Run ``ngrok-inspect ARGS``; never raises for a failing command."""
    runner = CliRunner()
    with runner.isolation(input=input, env=env) as (out, err, _):
        try:
            code = run(list(args))
        except SystemExit as exc:  # completion mode and eager options exit directly
            code = exc.code if isinstance(exc.code, int) else 1
        sys.stdout.flush()
        sys.stderr.flush()
        return Outcome(code, out.getvalue(), err.getvalue().decode("utf-8"))


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``ngrok-inspect ARGS`` through ``main`` with pytest's captured stdout/stderr;
    return ``(exit code, stdout, stderr)`` (for tests that run commands in threads)."""
    from ngrok_inspect.cli import main

    code: Any = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return int(code or 0), out, err
