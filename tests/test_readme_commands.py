"""Every ``ngrok-inspect`` command line in the README (and docs/) names commands and options
that exist, and every exit code the README documents is one the program has."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer.main
from typer._click import Command, Context
from typer.core import TyperGroup as Group

from ngrok_inspect.cli import ALIASES, GLOBAL_OPTIONS
from ngrok_inspect.cli.app import app
from ngrok_inspect.cli.commands import load_all
from ngrok_inspect.errors import ExitCode

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.S | re.M)
# where a command starts in a shell line: at its start, after a prompt, a pipe, && ; $( or
# xargs (with its own options)
START = re.compile(r"(?:^|\$ |\| |&& |; |\$\(|xargs(?: -[a-zA-Z0-9]+)* )ngrok-inspect(?= |$)")


def _group() -> Group:
    load_all()
    group = typer.main.get_command(app)
    assert isinstance(group, Group)
    return group


def command_lines(text: str) -> list[str]:
    """The ``ngrok-inspect …`` invocations in the fenced code blocks of ``text``."""
    found = []
    for block in FENCE.findall(text):
        joined = re.sub(r"\\\n\s*", " ", block)  # shell line continuations
        for line in joined.splitlines():
            for m in START.finditer(line):
                found.append(line[m.end() :])
    return found


def _words(rest: str) -> list[str]:
    """The words of one invocation, up to the end of its shell command (a pipe, a
    redirection, ``&&``, ``;``, ``)`` or a comment outside quotes)."""
    lexer = shlex.shlex(rest, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words: list[str] = []
    try:
        for tok in lexer:
            if tok and all(c in "();<>|&" for c in tok):
                break
            words.append(tok)
    except ValueError:  # an unterminated quote in a sample: what was read is enough
        pass
    return words


def check_invocation(group: Group, words: list[str]) -> list[str]:
    """Problems with one command line: an unknown command or option."""
    problems: list[str] = []
    i = 0

    def takes_value(cmd: Command, name: str) -> bool | None:
        for param in cmd.params:
            opts = [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
            if name in opts:
                return not (getattr(param, "is_flag", False) or getattr(param, "count", False))
        return None

    while i < len(words) and words[i].startswith("-"):  # global options first
        name = words[i].split("=", 1)[0]
        if name in ("--version", "-h", "--help"):
            return problems
        if name not in GLOBAL_OPTIONS and takes_value(group, name) is None:
            problems.append(f"unknown global option {name}")
        i += 2 if takes_value(group, name) and "=" not in words[i] else 1
    if i >= len(words):
        return problems
    path = list(ALIASES.get(words[i], (words[i],)))
    if path == ["help"]:
        path, i = words[i + 1 : i + 2] or [], i + 1
    i += 1
    cmd: Command = group
    ctx = Context(group)
    for name in path:
        sub = cmd.get_command(ctx, name) if isinstance(cmd, Group) else None
        if sub is None:
            return [*problems, f"unknown command {' '.join(path)!r}"]
        cmd = sub
    while isinstance(cmd, Group) and i < len(words) and not words[i].startswith("-"):
        sub = cmd.get_command(ctx, words[i])
        if sub is None:
            return [*problems, f"unknown command {words[i]!r} in {' '.join(path)!r}"]
        cmd, i = sub, i + 1
    while i < len(words):
        word = words[i]
        if word == "--":
            break
        if word.startswith("-") and word != "-" and not re.fullmatch(r"-\d+", word):
            name = word.split("=", 1)[0]
            value = takes_value(cmd, name)
            if value is None and name in GLOBAL_OPTIONS:
                value = GLOBAL_OPTIONS[name]
            if value is None and name not in ("-h", "--help"):
                problems.append(f"{cmd.name}: unknown option {name}")
            i += 2 if value and "=" not in word else 1
            continue
        i += 1
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_documented_command_and_option_exists(doc: Path) -> None:
    group = _group()
    lines = command_lines(doc.read_text(encoding="utf-8"))
    if doc.name == "README.md":
        assert len(lines) > 25  # the parser finds them (a test that cannot fail is a defect)
    problems = []
    for rest in lines:
        for problem in check_invocation(group, _words(rest)):
            problems.append(f"ngrok-inspect {rest.strip()}\n    -> {problem}")
    assert not problems, "\n".join(problems)


def test_the_checker_catches_what_does_not_exist() -> None:
    group = _group()
    assert check_invocation(group, ["requests", "list", "--json"]) == []
    assert check_invocation(group, ["--api-url", "4041", "ls", "-n", "5"]) == []
    assert check_invocation(group, ["requests", "lst"]) == ["unknown command 'lst' in 'requests'"]
    assert check_invocation(group, ["wait", "--timout", "3"]) == ["wait: unknown option --timout"]
    assert check_invocation(group, ["exprt"]) == ["unknown command 'exprt'"]
    assert check_invocation(group, ["--bogus", "status"]) == ["unknown global option --bogus"]


def test_readme_exit_codes_are_the_programs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = [int(m) for m in re.findall(r"^\| (\d+) \|", table, re.M)]
    assert rows == sorted(int(c) for c in ExitCode)
    # every "exit N" / "exits N" / "exit code N" in the prose and samples is a real code
    mentioned = {int(n) for n in re.findall(r"\bexit(?:s| code| with| status)? (\d+)\b", readme)}
    assert mentioned, "the README mentions exit codes"
    assert mentioned <= {int(c) for c in ExitCode}, mentioned
