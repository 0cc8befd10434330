"""The error boundary: exit codes, one-line cause + hint, no traceback without --debug,
global options before or after the command, --version, --help."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ngrok_inspect.cli import hoist_global_options
from tests.cli_invoke import invoke
from tests.support.servers import FixtureAgentServer


@pytest.mark.parametrize(
    ("mode", "code", "first_line"),
    [
        ("refuse", 3, "Error: no ngrok agent at "),
        ("html500", 5, "Error: "),
        ("truncated_json", 5, "Error: unreadable answer from "),
        ("not_json", 5, "Error: unreadable answer from "),
        ("no_requests_key", 5, "Error: unreadable answer from "),
    ],
)
def test_agent_failures_map_to_exit_codes(
    broken_server: Callable[[str], str], mode: str, code: int, first_line: str
) -> None:
    url = broken_server(mode)
    r = invoke(["requests", "list", "--json", "--api-url", url])
    assert r.exit_code == code
    assert r.stdout == ""  # a pipe never gets half a document
    lines = r.stderr.splitlines()
    assert len(lines) == 2, r.stderr  # cause + hint
    assert lines[0].startswith(first_line)
    assert "Traceback" not in r.stderr


def test_hanging_agent_times_out_with_exit_3(broken_server: Callable[[str], str]) -> None:
    url = broken_server("hang")
    r = invoke(["--timeout", "0.3", "status", "--api-url", url])
    assert r.exit_code == 3
    assert "no answer within 0.3s" in r.stderr
    assert "--api-timeout" in r.stderr.splitlines()[1]


def test_debug_shows_the_traceback(broken_server: Callable[[str], str]) -> None:
    url = broken_server("refuse")
    r = invoke(["--debug", "status", "--api-url", url])
    assert r.exit_code == 3
    assert "Traceback" in r.stderr
    assert "Error: no ngrok agent" in r.stderr


def test_unexpected_exception_is_one_line_and_exit_1(
    fixture_agent: FixtureAgentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ngrok_inspect.render import requests as render_requests

    def boom(*args: object, **kwargs: object) -> str:
        raise KeyError("secret-header-value")

    monkeypatch.setattr(render_requests, "list_plain", boom)
    r = invoke(["requests", "list", "--api-url", fixture_agent.url])
    assert r.exit_code == 1
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[0].startswith("Error: unexpected KeyError at ngrok_inspect/")
    assert "secret-header-value" not in r.stderr  # the exception text could quote traffic
    assert lines[1].startswith("Rerun with --debug")
    r = invoke(["--debug", "requests", "list", "--api-url", fixture_agent.url])
    assert r.exit_code == 1
    assert "Traceback" in r.stderr and "secret-header-value" in r.stderr


def test_keyboard_interrupt_exits_130(
    fixture_agent: FixtureAgentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ngrok_inspect.render import requests as render_requests

    def interrupted(*args: object, **kwargs: object) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(render_requests, "list_plain", interrupted)
    r = invoke(["requests", "list", "--api-url", fixture_agent.url])
    assert r.exit_code == 130
    assert "Interrupted" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["requests", "lst"],
        ["status", "--bogus"],
        ["requests", "list", "--limit", "many"],
        ["--timeout", "0", "status"],
        ["replay"],
        ["completions", "tcsh"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    r = invoke(args)
    assert r.exit_code == 2
    assert r.stdout == ""
    # one line of cause, one line of what to do, as every other error
    cause, hint = r.stderr.splitlines()
    assert cause.startswith("Error: ")
    assert hint and not hint.startswith(("Usage", "Error"))


def test_usage_error_names_the_command_and_the_option() -> None:
    r = invoke(["requests", "list", "--bogus"])
    assert r.stderr.splitlines() == [
        "Error: No such option: --bogus",
        "See 'ngrok-inspect requests list --help'",
    ]


def test_bad_api_url_is_a_usage_error() -> None:
    r = invoke(["status", "--api-url", "http://[::1"])
    assert r.exit_code == 2
    assert r.stderr.startswith("Error: ")


def test_global_options_after_the_command(fixture_agent: FixtureAgentServer) -> None:
    before = invoke(["--api-url", fixture_agent.url, "requests", "list", "-q"])
    after = invoke(["requests", "list", "-q", "--api-url", fixture_agent.url])
    eq = invoke(["requests", "list", f"--api-url={fixture_agent.url}", "-q", "--no-color"])
    assert before.exit_code == after.exit_code == eq.exit_code == 0
    assert before.stdout == after.stdout == eq.stdout
    assert len(after.stdout.split()) == 12
    # and between a group and its command
    between = invoke(["requests", "--api-url", fixture_agent.url, "list", "-q"])
    assert between.exit_code == 0 and between.stdout == before.stdout


def test_hoisting_keeps_values_and_the_commands_own_options() -> None:
    import typer.main

    from ngrok_inspect.cli import commands

    commands.load_all()
    from ngrok_inspect.cli.app import app

    group = typer.main.get_command(app)
    hoist = hoist_global_options
    assert hoist(group, ["requests", "list", "--api-url", "4041", "--json"]) == [
        "--api-url", "4041", "requests", "list", "--json",
    ]  # fmt: skip
    # a value that looks like a global option stays a value
    assert hoist(group, ["requests", "list", "--body-contains", "--debug"]) == [
        "requests", "list", "--body-contains", "--debug",
    ]  # fmt: skip
    # wait has its own --timeout: it stays with wait
    assert hoist(group, ["wait", "--timeout", "5s", "--debug"]) == [
        "--debug", "wait", "--timeout", "5s",
    ]  # fmt: skip
    assert hoist(group, ["status", "--", "--debug"]) == ["status", "--", "--debug"]
    assert hoist(group, ["requests", "--api-url=4045", "--debug", "list", "-q"]) == [
        "--api-url=4045", "--debug", "requests", "list", "-q",
    ]  # fmt: skip


def test_version_and_help() -> None:
    from ngrok_inspect import __version__

    r = invoke(["--version"])
    assert r.exit_code == 0
    assert r.stdout == f"ngrok-inspect {__version__}\n"
    for cmd in (["status"], ["requests", "list"], ["requests", "show"], ["replay"], ["clear"]):
        r = invoke([*cmd, "--help"])
        assert r.exit_code == 0, cmd
        assert "Examples" in r.stdout, cmd
    r = invoke(["requests", "list", "-h"])
    assert "--status" in r.stdout and "--where" in r.stdout


def test_no_args_shows_help() -> None:
    r = invoke([])
    assert "Usage" in r.stdout + r.stderr
    assert "requests" in r.stdout + r.stderr


@pytest.mark.parametrize("args", [[], ["requests"]])
def test_no_command_is_help_without_an_error_line(args: list[str]) -> None:
    r = invoke(args)
    assert r.exit_code == 0
    assert "Usage" in r.stdout
    assert "Error" not in r.stderr


def test_path_without_a_slash_is_a_usage_error_with_the_fix(
    fixture_agent: FixtureAgentServer,
) -> None:
    r = invoke(["requests", "list", "--path", "webhook", "--api-url", fixture_agent.url])
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith("Error: --path 'webhook' can never match")
    assert "--path /webhook" in r.stderr


def test_top_level_shorthands(fixture_agent: FixtureAgentServer) -> None:
    full = invoke(["requests", "list", "-q", "--api-url", fixture_agent.url])
    for alias in ("list", "ls"):
        r = invoke(["--api-url", fixture_agent.url, alias, "-q"])
        assert r.exit_code == 0 and r.stdout == full.stdout, alias
    show_full = invoke(["requests", "show", "last", "--json", "--api-url", fixture_agent.url])
    show = invoke(["show", "last", "--json", "--api-url", fixture_agent.url])
    assert show.exit_code == 0 and show.stdout == show_full.stdout


@pytest.mark.parametrize(
    ("args", "usage"),
    [
        (["help"], "Usage: ngrok-inspect [OPTIONS] COMMAND"),
        (["help", "wait"], "Usage: ngrok-inspect wait"),
        (["help", "requests", "list"], "Usage: ngrok-inspect requests list"),
    ],
)
def test_help_command(args: list[str], usage: str) -> None:
    r = invoke(args)
    assert r.exit_code == 0
    assert usage in " ".join(r.stdout.split())


def test_https_to_the_agent_hints_at_http(fixture_agent: FixtureAgentServer) -> None:
    https = fixture_agent.url.replace("http://", "https://", 1)
    r = invoke(["status", "--api-url", https])
    assert r.exit_code == 3 and r.stdout == ""
    assert r.stderr.startswith(f"Error: no ngrok agent at {https} (TLS handshake failed)")
    assert f"use --api-url {fixture_agent.url}" in r.stderr
