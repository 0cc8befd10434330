"""The ``ngrok-inspect`` command line: the one error boundary and the entry point.

:func:`run` parses and runs one command line and returns the exit code; every exception
becomes a short message on stderr there:

- :class:`~ngrok_inspect.errors.NgrokInspectError` → ``Error: <cause>`` and the hint, with
  the error's exit code (2 usage/config, 3 unreachable, 4 not found, 5 agent error, 6
  condition not met);
- a bad flag or argument (click's usage errors) → usage line and message, exit 2;
- Ctrl-C → ``Interrupted``, exit 130;
- a closed pipe on stdout (``… | head -1``) → silence, exit 0;
- anything else → ``Error: unexpected <Type> (a bug)`` and a hint to rerun with
  ``--debug``, exit 1. The exception's text is not printed: it could quote captured
  traffic.

With ``--debug`` the traceback is shown instead. Global options may be given after the
subcommand too (``ngrok-inspect requests list --api-url 4041``): :func:`hoist_global_options`
moves them in front of it.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from typing import TYPE_CHECKING

from ngrok_inspect.cli import collector
from ngrok_inspect.errors import ExitCode, NgrokInspectError

if TYPE_CHECKING:
    from typer._click import Command

__all__ = ["ALIASES", "GLOBAL_OPTIONS", "expand_aliases", "hoist_global_options", "main", "run"]

#: Top-level shorthands for the commands a newcomer types first.
ALIASES: dict[str, tuple[str, ...]] = {
    "list": ("requests", "list"),
    "ls": ("requests", "list"),
    "show": ("requests", "show"),
}

#: The environment variable through which the completion scripts ask for completions.
COMPLETE_VAR = "_NGROK_INSPECT_COMPLETE"

#: Global options, and whether each takes a value.
GLOBAL_OPTIONS: dict[str, bool] = {
    "--api-url": True,
    "--config": True,
    "--api-timeout": True,
    "--timeout": True,
    "--no-color": False,
    "--debug": False,
}


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``ngrok-inspect`` script: run and exit with the exit code.

    The garbage collector follows the command line's policy while it runs
    (:mod:`ngrok_inspect.cli.collector`). Without ``argv`` the process is the command's
    (the script): the collector is left so until the process exits; with ``argv`` (a
    caller's process, tests) it is restored when the command returns.
    """
    with collector.owned(process=argv is None):
        code = run(sys.argv[1:] if argv is None else argv)
    sys.exit(code)


def run(args: list[str]) -> int:
    """Run one command line; return its exit code (the one error boundary)."""
    if "--version" in args[: _first_positional(args)]:
        # answered before typer (and its pydantic) is even imported: start-up matters here
        from ngrok_inspect import __version__

        sys.stdout.write(f"ngrok-inspect {__version__}\n")
        return int(ExitCode.OK)
    import typer.main
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
    from typer.exceptions import Abort, Exit

    from ngrok_inspect.cli.app import app, reset_state, state
    from ngrok_inspect.cli.commands import load_for

    args = expand_aliases(args)
    start = _first_positional(args)
    load_for(args[start] if start < len(args) else None)
    reset_state()
    group = typer.main.get_command(app)
    if os.environ.get(COMPLETE_VAR):
        _prepare_completion(group)
    args = hoist_global_options(group, list(args))
    collector.settle()
    debug = "--debug" in args[: _first_positional(args)]
    try:
        try:
            result = group.main(args=args, prog_name="ngrok-inspect", standalone_mode=False)
        finally:
            _flush_stdout()
    except Exit as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):
            sys.stderr.write("\nInterrupted\n")
        return int(exc.exit_code)
    except Abort:
        sys.stderr.write("\nInterrupted\n")
        return int(ExitCode.INTERRUPTED)
    except NoArgsIsHelpError:
        # ``ngrok-inspect`` or ``ngrok-inspect requests`` alone: typer has printed the help,
        # which is what was asked for, so no ``Error:`` line and exit 0 (as gh and docker)
        return int(ExitCode.OK)
    except UsageError as exc:  # a bad flag or value: the same two lines as every error
        command = exc.ctx.command_path if exc.ctx is not None else "ngrok-inspect"
        return _fail(exc.format_message(), f"See '{command} --help'", ExitCode.USAGE)
    except ClickException as exc:
        exc.show(file=sys.stderr)
        return int(exc.exit_code)
    except NgrokInspectError as exc:
        if debug or state().debug:
            traceback.print_exc(file=sys.stderr)
        return _fail(exc.message, exc.hint, exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("\nInterrupted\n")
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        _silence_stdout()
        return int(ExitCode.OK)
    except SystemExit as exc:
        # click answers EPIPE with sys.exit(1) before we see it: a closed pipe
        # (``| head -1``) is how a reader says "enough", so it is a success
        if _is_broken_pipe(exc.__context__):
            _silence_stdout()
            return int(ExitCode.OK)
        raise
    except Exception as exc:
        if debug or state().debug:
            traceback.print_exc(file=sys.stderr)
        return _fail(
            f"unexpected {type(exc).__name__}{_where(exc)} (a bug in ngrok-inspect)",
            "Rerun with --debug for the traceback, and please report it",
            ExitCode.FAILURE,
        )
    if result == ExitCode.INTERRUPTED:  # typer turns Ctrl-C into a returned Exit(130)
        sys.stderr.write("\nInterrupted\n")
    return int(result) if isinstance(result, int) else int(ExitCode.OK)


def _prepare_completion(group: Command) -> None:
    """Before typer answers a completion request: its shell classes (the app has
    ``add_completion=False``, so ``completions`` is the one way to install completion) and
    the shorthands, so that ``ngrok-inspect show <TAB>`` completes like ``requests show``.
    (typer's private completion modules: its version range has an upper bound.)"""
    from typer._click.shell_completion import get_completion_class
    from typer._completion_classes import completion_init
    from typer.core import TyperGroup

    from ngrok_inspect.cli import completion

    completion_init()
    # typer hands value completers no arguments: keep the typed words for them
    shell = os.environ.get(COMPLETE_VAR, "").partition("_")[2]
    comp_cls = get_completion_class(shell)
    if comp_cls is not None:
        try:
            words, _ = comp_cls(group, {}, "ngrok-inspect", COMPLETE_VAR).get_completion_args()
        except (KeyError, ValueError):  # a malformed request: typer answers it
            words = []
        completion.set_command_line(words)
    requests = group.commands.get("requests") if isinstance(group, TyperGroup) else None
    if isinstance(group, TyperGroup) and isinstance(requests, TyperGroup):
        for alias, (_, name) in ALIASES.items():
            sub = requests.commands.get(name)
            if sub is not None:
                group.commands.setdefault(alias, sub)


def _is_broken_pipe(exc: BaseException | None) -> bool:
    return isinstance(exc, BrokenPipeError) or (
        isinstance(exc, OSError) and exc.errno == errno.EPIPE
    )


def _fail(message: str, hint: str | None, code: int) -> int:
    """``Error: <cause>`` and the hint, control characters shown escaped line by line (the
    message's own newlines kept: a ``--where`` error draws its caret under the expression).
    Agent and traffic text is escaped where a message quotes it, so it stays on its line."""
    from ngrok_inspect import escape

    def safe(text: str) -> str:
        return "\n".join(escape.field(line) for line in text.split("\n"))

    sys.stderr.write(f"Error: {safe(message)}\n")
    if hint:
        sys.stderr.write(safe(hint) + "\n")
    return int(code)


def _where(exc: BaseException) -> str:
    """`` at module.py:123`` — the innermost frame inside the package, if any."""
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        norm = frame.filename.replace(os.sep, "/")
        if "/ngrok_inspect/" in norm:
            rel = norm.rsplit("/ngrok_inspect/", 1)[1]
            return f" at ngrok_inspect/{rel}:{frame.lineno}"
    return ""


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        raise
    except (OSError, ValueError):
        pass


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def expand_aliases(args: list[str]) -> list[str]:
    """``list``/``ls``/``show`` -> ``requests list``/``requests show``; ``help CMD...`` ->
    ``CMD... --help`` (``help`` alone is the root help)."""
    start = _first_positional(args)
    if start >= len(args):
        return args
    head, before, after = args[start], args[:start], args[start + 1 :]
    if head == "help":
        return [*before, *after, "--help"]
    if head in ALIASES:
        return [*before, *ALIASES[head], *after]
    return args


def _first_positional(args: list[str]) -> int:
    """Index of the first token that is not a global option (or its value)."""
    i = 0
    while i < len(args):
        tok = args[i]
        name = tok.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            i += 2 if GLOBAL_OPTIONS[name] and "=" not in tok else 1
        elif tok.startswith("-") and tok != "-":
            i += 1
        else:
            return i
    return len(args)


def hoist_global_options(group: Command, args: list[str]) -> list[str]:
    """Move global options given after the subcommand in front of it.

    ``requests list --api-url 4041 --json`` becomes ``--api-url 4041 requests list
    --json``. An option the subcommand defines itself (``wait --timeout 30s``) stays
    where it is, as do option values and everything after ``--``.
    """
    from typer._click import Context
    from typer.core import TyperGroup, TyperOption

    start = _first_positional(args)
    cmd: Command = group
    i = start
    ctx = Context(group, resilient_parsing=True)
    hoisted: list[str] = []
    path: list[str] = []  # the subcommand names
    while isinstance(cmd, TyperGroup) and i < len(args):
        name = args[i].split("=", 1)[0]
        if name in GLOBAL_OPTIONS:  # between a group and its command: requests --api-url X list
            width = 2 if GLOBAL_OPTIONS[name] and "=" not in args[i] else 1
            hoisted.extend(args[i : i + width])
            i += width
            continue
        sub = cmd.get_command(ctx, args[i])
        if sub is None:
            return args
        cmd = sub
        path.append(args[i])
        i += 1
    if cmd is group:
        return args
    own: dict[str, bool] = {}
    for param in cmd.params:
        if isinstance(param, TyperOption):
            takes_value = not param.is_flag and not param.count
            for opt in [*param.opts, *param.secondary_opts]:
                own[opt] = takes_value
    for opt in getattr(cmd, "optional_values", {}):
        own[opt] = False  # its value, if any, is a word of the command's own
    rest: list[str] = path
    while i < len(args):
        tok = args[i]
        if tok == "--":
            rest.extend(args[i:])
            break
        name = tok.split("=", 1)[0]
        if name in GLOBAL_OPTIONS and name not in own:
            width = 2 if GLOBAL_OPTIONS[name] and "=" not in tok else 1
            hoisted.extend(args[i : i + width])
            i += width
            continue
        width = 2 if own.get(name) and "=" not in tok else 1
        rest.extend(args[i : i + width])
        i += width
    return [*args[:start], *hoisted, *rest]
