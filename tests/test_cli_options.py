"""The shared filter flags: one definition, given to every filtering command."""

from __future__ import annotations

import inspect

import pytest

from ngrok_inspect.cli import commands
from ngrok_inspect.cli.options import FILTER_PARAMS, with_filters
from ngrok_inspect.filters import RequestFilter


def test_every_filtering_command_offers_every_filter_flag() -> None:
    import typer.main

    from ngrok_inspect.cli.app import app

    commands.load_all()
    group = typer.main.get_command(app)
    expected = {"--" + name.replace("_", "-") for name in FILTER_PARAMS}
    found = {}
    for path in (["requests", "list"], ["export"], ["wait"], ["stats"], ["monitor"]):
        cmd = group
        for part in path:
            cmd = cmd.commands[part]  # type: ignore[attr-defined]
        found[" ".join(path)] = {o for p in cmd.params for o in p.opts}
    for name, opts in found.items():
        assert expected <= opts, (name, expected - opts)


def test_the_command_receives_one_request_filter() -> None:
    seen: list[RequestFilter] = []

    @with_filters
    def cmd(flt: RequestFilter, top: int = 3) -> None:
        seen.append(flt)

    params = inspect.signature(cmd).parameters
    assert list(params)[: len(FILTER_PARAMS)] == list(FILTER_PARAMS)
    assert "flt" not in params and "top" in params
    flags = {name: default for name, (_, default) in FILTER_PARAMS.items()}
    cmd(**{**flags, "status": ["4xx"], "method": ["post"]}, top=1)
    assert seen[0].methods == ("POST",)
    assert not seen[0].is_empty


def test_a_command_without_flt_is_a_programming_error() -> None:
    def cmd(top: int = 3) -> None:
        pass

    with pytest.raises(TypeError, match="'flt'"):
        with_filters(cmd)
