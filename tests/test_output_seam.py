"""The one output seam (cli/output.py): every command writes through it, and what it does.

The guard scans the command modules' source: a command that prints, writes to
``sys.stdout``/``sys.stderr``, echoes through typer or builds its own rich console goes
around the seam (and around its escaping, redaction and honest I/O errors).
"""

from __future__ import annotations

import ast
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from ngrok_inspect.cli.output import Output, OutputMode, decide_mode
from ngrok_inspect.errors import UsageError
from ngrok_inspect.models import CapturedRequest
from ngrok_inspect.redaction import DEFAULT_POLICY
from ngrok_inspect.render.output import dumps

CLI = Path(__file__).parent.parent / "ngrok_inspect" / "cli"
FIXTURES = Path(__file__).parent / "fixtures" / "agent-2.3.41"

#: The seam itself, and the error boundary (``Error:`` lines, ``--version`` before typer
#: is imported, silencing a closed stdout).
EXEMPT = {"output.py", "__init__.py"}

_STREAMS = {"stdout", "stderr"}
_WRITERS = {"print", "Console", "make_console"}


def _bypasses(path: Path) -> list[str]:
    """Each place in ``path`` that writes output other than through the seam."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []

    def hit(node: ast.AST, what: str) -> None:
        found.append(f"{path.name}:{getattr(node, 'lineno', '?')}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in _WRITERS:
                hit(node, f"{name}(...)")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "sys" and node.attr in _STREAMS:
                hit(node, f"sys.{node.attr}")
            if node.value.id == "typer" and node.attr in ("echo", "secho"):
                hit(node, f"typer.{node.attr}")
        if isinstance(node, ast.ImportFrom):
            names = {a.name for a in node.names}
            if node.module == "sys" and names & _STREAMS:
                hit(node, "from sys import stdout/stderr")
            if node.module == "ngrok_inspect.render" and "output" in names:
                hit(node, "render.output imported (write through cli.output)")
            if node.module == "ngrok_inspect.render.output" and names - {"is_terminal"}:
                hit(node, f"render.output.{sorted(names)} imported")
            if node.module == "ngrok_inspect.atomicio" and "write_stdout" in names:
                hit(node, "atomicio.write_stdout imported (Output.exact)")
        if isinstance(node, ast.Import) and any(
            a.name == "ngrok_inspect.render.output" for a in node.names
        ):
            hit(node, "import ngrok_inspect.render.output")
    return found


def _modules() -> list[Path]:
    return sorted(p for p in CLI.glob("*.py") if p.name not in EXEMPT)


def test_every_cli_module_writes_through_the_seam() -> None:
    assert len(_modules()) > 10  # the scan sees the command modules
    found = [b for p in _modules() for b in _bypasses(p)]
    assert found == [], (
        "write through ngrok_inspect.cli.output.Output (records/record/request/view/"
        "raw_bytes/notice/warn) instead of:\n" + "\n".join(found)
    )


def test_the_guard_catches_each_way_around_the_seam(tmp_path: Path) -> None:
    src = tmp_path / "cmd_x.py"
    src.write_text(
        "import sys, typer\n"
        "from ngrok_inspect.render import output\n"
        "from ngrok_inspect.atomicio import write_stdout\n"
        "print('x')\n"
        "sys.stdout.write('x')\n"
        "sys.stderr.write('x')\n"
        "typer.echo('x')\n"
        "Console(file=None)\n"
        "output.make_console(no_color=True)\n",
        encoding="utf-8",
    )
    found = _bypasses(src)
    assert len(found) == 8, found


# -- the mode, decided once ------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "terminal", "mode"),
    [
        ({}, True, OutputMode.TABLE),
        ({}, False, OutputMode.PLAIN),
        ({"json": True}, True, OutputMode.JSON),
        ({"json": True, "quiet": True}, False, OutputMode.JSON),
        ({"ndjson": True}, True, OutputMode.NDJSON),
        ({"quiet": True}, True, OutputMode.QUIET),
    ],
)
def test_decide_mode(flags: dict[str, bool], terminal: bool, mode: OutputMode) -> None:
    assert decide_mode(**flags, terminal=terminal) is mode


def test_force_color_makes_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    assert decide_mode() is OutputMode.PLAIN  # pytest's captured stdout
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert decide_mode() is OutputMode.TABLE


# -- escaping at the seam --------------------------------------------------------------


def _req(**changes: Any) -> CapturedRequest:
    data = json.loads((FIXTURES / "request-by-id.json").read_text(encoding="utf-8"))
    data.update(changes)
    return CapturedRequest.from_api(data)


def test_json_keeps_the_value_but_never_a_raw_c1_or_bidi_control() -> None:
    value = {"path": "/a\x9b31mb\u202ec\x7f", "ok": "é"}
    text = dumps(value)
    assert json.loads(text) == value
    assert not any(ch in text for ch in "\x9b\u202e\x7f")
    assert "é" in text  # UTF-8, not \u00e9


def test_plain_text_and_rows_show_control_characters(capsys: pytest.CaptureFixture[str]) -> None:
    out = Output(OutputMode.PLAIN)
    out.text("a\x1b]0;PWNED\x07\tb\n")
    out.row("id", "tab\there", "new\nline")
    printed = capsys.readouterr().out
    assert printed == "a\\e]0;PWNED\\x07\tb\nid\ttab\\there\tnew\\nline\n"


def test_messages_escape_the_values_they_quote(capsys: pytest.CaptureFixture[str]) -> None:
    Output.notice("Deleted {} from {}", 3, "http://x\x1b[2J")
    Output.warn("tunnel {} gone\nnext line kept", "we\tb")
    err = capsys.readouterr().err
    assert err == ("Deleted 3 from http://x\\e[2J\nWarning: tunnel we\\tb gone\nnext line kept\n")


def test_piped_records_stay_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    hostile = _req(tunnel_name="we\tb\nx", remote_addr="\x1b[31m")
    Output(OutputMode.PLAIN).records([hostile, _req()])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert [len(line.split("\t")) for line in lines] == [9, 9]
    assert "\x1b" not in lines[0] and "we\\tb\\nx" in lines[0]


def test_quiet_writes_ids_only_and_nothing_for_documents(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = Output(OutputMode.QUIET)
    out.records([_req()])
    out.view(json=lambda: {"a": 1}, plain=lambda: "text\n")
    assert capsys.readouterr().out == _req().id + "\n"


# -- redaction at the seam -------------------------------------------------------------


def test_an_output_with_a_policy_redacts_every_capture_it_writes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = json.loads((FIXTURES / "request-by-id.json").read_text(encoding="utf-8"))
    data["request"]["headers"]["Authorization"] = ["Bearer s3cret"]
    req = CapturedRequest.from_api(data)
    Output(OutputMode.JSON, redact=DEFAULT_POLICY).records([req])
    out, err = capsys.readouterr()
    assert "s3cret" not in out
    assert json.loads(out)[0]["request"]["headers"]["Authorization"] == ["[REDACTED]"]
    assert err.startswith("Redacted ") and "value" in err
    Output(OutputMode.JSON).request(req)  # no policy: everything, as asked
    assert "s3cret" in capsys.readouterr().out


# -- the byte-exact path ---------------------------------------------------------------


def test_raw_bytes_are_exact_when_piped(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    Output(OutputMode.PLAIN).raw_bytes(b"\x1b[2J\xff", what="the body", newline_on_terminal=True)
    assert capsysbinary.readouterr().out == b"\x1b[2J\xff"


def test_raw_bytes_refuse_control_bytes_to_a_real_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pty = pytest.importorskip("pty")
    leader, follower = pty.openpty()
    try:
        with open(follower, "w", encoding="utf-8", closefd=False) as tty:
            monkeypatch.setattr(sys, "stdout", tty)
            out = Output(OutputMode.TABLE)
            with pytest.raises(UsageError, match="not writing the body to the terminal"):
                out.raw_bytes(b"\x1b]0;PWNED\x07", what="the body")
            out.raw_bytes(b"plain text", what="the body", newline_on_terminal=True)
        seen = b""
        while b"\n" not in seen and len(seen) < 100:  # the two writes may come apart
            seen += os.read(leader, 100)
        assert seen.replace(b"\r\n", b"\n") == b"plain text\n"
    finally:
        os.close(leader)
        os.close(follower)


_SIGNALLED_WRITER = r"""
import signal, sys
from ngrok_inspect.atomicio import write_stdout
seen = []
signal.signal(signal.SIGINT, lambda *_: seen.append(1))  # a handler, like record's stop
sys.stdout.buffer.write(b"ready\n"); sys.stdout.buffer.flush()
for n in range(30):
    write_stdout(b"%d " % n + b"x" * 300_000 + b"\n")
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_signal_during_a_large_write_to_a_pipe_loses_nothing() -> None:
    # CPython's buffered writer drops the rest of a blocking pipe write that a handled
    # signal interrupts: write_stdout holds SIGINT/SIGTERM back while it writes
    import signal
    import subprocess

    proc = subprocess.Popen(
        [sys.executable, "-c", _SIGNALLED_WRITER], stdout=subprocess.PIPE, bufsize=0
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    got = b""
    for _ in range(20):  # the writer is blocked on the full pipe while each signal comes
        got += os.read(proc.stdout.fileno(), 100_000)
        proc.send_signal(signal.SIGINT)
    got += proc.communicate(timeout=60)[0]
    assert proc.returncode == 0
    assert got.split(b"\n")[:-1] == [b"%d " % n + b"x" * 300_000 for n in range(30)]
