"""The ``ngrok-inspect`` command line: the one error boundary and the entry point."""

from __future__ import annotations

import sys

from ngrok_inspect.errors import ExitCode, NgrokInspectError


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; never lets a traceback out unless ``--debug`` was given."""
    from ngrok_inspect.cli import commands  # noqa: F401  (registers the commands)
    from ngrok_inspect.cli.app import app, reset_state, state

    reset_state()
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        app(args=args, prog_name="ngrok-inspect", standalone_mode=True)
    except NgrokInspectError as exc:
        if debug or state().debug:
            raise
        _fail(exc.message, exc.hint, exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted\n")
        raise SystemExit(ExitCode.INTERRUPTED) from None


def _fail(message: str, hint: str | None, code: int) -> None:
    sys.stderr.write(f"Error: {message}\n")
    if hint:
        sys.stderr.write(f"{hint}\n")
    raise SystemExit(code)
