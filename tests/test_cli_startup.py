"""What ``requests list --json`` costs at start-up, guarded structurally (no timings).

The brief's floor (``requests list --json`` within 1.5x of a bare ``requests.get().json()``
script, bench/bench_cli.py) depends on what the command imports and on the garbage
collector's work. These tests run the script's entry point against the recorded agent
and check the shape of that work: which modules are imported (``sys.modules`` at exit),
and that the listing is built with the collector paused, the modules frozen to the exit.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from typing import Any

from ngrok_inspect.cli import collector
from tests.support.servers import FixtureAgentServer

#: Every package module ``requests list --json`` imports. A new one on this path must be
#: added here on purpose (and be cheap: no eager regex or dataclass it does not need).
EXPECTED_OWN = {
    "ngrok_inspect",
    "ngrok_inspect._lazy",
    "ngrok_inspect.atomicio",
    "ngrok_inspect.bodies",
    "ngrok_inspect.cli",
    "ngrok_inspect.cli.app",
    "ngrok_inspect.cli.collector",
    "ngrok_inspect.cli.commands",
    "ngrok_inspect.cli.completion",
    "ngrok_inspect.cli.options",
    "ngrok_inspect.cli.output",
    "ngrok_inspect.cli.cmd_requests",
    "ngrok_inspect.client",
    "ngrok_inspect.errors",
    "ngrok_inspect.escape",
    "ngrok_inspect.filters",
    "ngrok_inspect.models",
    "ngrok_inspect.render",
    "ngrok_inspect.render.output",
    "ngrok_inspect.settings",
    "ngrok_inspect.transport",
}

#: Modules the JSON listing has no use for: terminal rendering, the agent's server side,
#: the archive, the expression language, redaction, other commands, YAML config files.
NOT_ON_THE_PATH = {
    "rich",
    "aiohttp",
    "uvloop",
    "yaml",
    "sqlite3",
    "asyncio",
    "ngrok_inspect.expr",
    "ngrok_inspect.redaction",
    "ngrok_inspect.ids",
    "ngrok_inspect.render.requests",
    "ngrok_inspect.archive",
    "ngrok_inspect.local_agent",
    "ngrok_inspect.replay",
    "ngrok_inspect.cli.cmd_follow",
    "ngrok_inspect.cli.cmd_agent",
}


#: ``python -c`` this: the script's entry point (``main()`` with the process's own
#: command line), a probe on the listing call, and at exit what the process did.
_DRIVER = """
import atexit, gc, json, sys
from ngrok_inspect import client
from ngrok_inspect.cli import main
seen = {}
listing = client.AgentClient.list_requests
def probe(self, *args, **kwargs):
    seen["enabled_while_listing"] = gc.isenabled()
    seen["threshold"] = gc.get_threshold()[0]
    seen["frozen_before_listing"] = gc.get_freeze_count()
    return listing(self, *args, **kwargs)
client.AgentClient.list_requests = probe
atexit.register(lambda: sys.stderr.write("\\n" + json.dumps({
    **seen, "frozen_at_exit": gc.get_freeze_count(), "enabled": gc.isenabled(),
    "modules": sorted(sys.modules),
})))
sys.argv = ["ngrok-inspect", *sys.argv[1:]]
main()
"""


def _run(*args: str) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    """Run the command line as the script does; what the process reported at exit."""
    env = dict(os.environ)
    env.pop("FORCE_COLOR", None)
    p = subprocess.run(
        [sys.executable, "-c", _DRIVER, *args],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    seen: dict[str, Any] = json.loads(p.stderr.strip().splitlines()[-1])
    return seen, p


def test_requests_list_json_imports_only_what_it_needs(
    fixture_agent: FixtureAgentServer,
) -> None:
    seen, p = _run("requests", "list", "--json", "--api-url", fixture_agent.url)
    assert p.returncode == 0
    assert len(json.loads(p.stdout)) == 12  # it did list the recorded agent
    modules = set(seen["modules"])
    own = {m for m in modules if m.split(".")[0] == "ngrok_inspect"}
    assert own == EXPECTED_OWN
    loaded = {m for m in modules for top in NOT_ON_THE_PATH if m == top or m.startswith(top + ".")}
    assert loaded == set()


def test_the_import_probe_sees_a_heavier_path(fixture_agent: FixtureAgentServer) -> None:
    """The probe can fail: the same listing with ``--where`` imports the expression language."""
    seen, p = _run("requests", "list", "--api-url", fixture_agent.url, "--where", "status >= 200")
    assert p.returncode == 0
    assert "ngrok_inspect.expr" in seen["modules"]


def test_the_listing_is_built_with_the_collector_paused(
    fixture_agent: FixtureAgentServer,
) -> None:
    seen, p = _run("requests", "list", "--json", "--api-url", fixture_agent.url)
    assert p.returncode == 0, p.stderr
    assert len(json.loads(p.stdout)) == 12
    assert seen["enabled_while_listing"] is False
    assert seen["threshold"] == collector.GC_THRESHOLD
    assert seen["frozen_before_listing"] > 10_000  # the modules, settled after the imports
    # still frozen at exit (not undone as for a caller's process): the interpreter's final
    # collection skips them
    assert seen["frozen_at_exit"] >= seen["frozen_before_listing"]
    assert seen["enabled"] is True


_COUNT_EVALS = """
import builtins, typer.main
from ngrok_inspect.cli.app import app
from ngrok_inspect.cli.commands import load_for
load_for("requests")
calls = []
real_eval = builtins.eval
def counting(*args):
    calls.append(1)
    return real_eval(*args)
builtins.eval = counting
typer.main.get_command(app)
builtins.eval = real_eval
print(len(calls))
"""


def test_building_the_requests_commands_evaluates_no_annotation_strings() -> None:
    """typer reads every parameter's annotation at each start; a string annotation (from
    ``from __future__ import annotations``) costs it an ``eval``: none on this path."""
    out = subprocess.run(
        [sys.executable, "-c", _COUNT_EVALS],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == "0"


def test_the_eval_probe_counts_string_annotations() -> None:
    """The probe can fail: a command module with string annotations costs evals."""
    code = _COUNT_EVALS.replace('load_for("requests")', 'load_for("status")')
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert int(out.stdout) > 0


def test_a_callers_process_gets_its_collector_back() -> None:
    """``owned(process=False)`` (main with argv: tests) restores everything it changed."""
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with collector.owned(process=False):
        assert gc.get_threshold()[0] == collector.GC_THRESHOLD
        collector.settle()
        assert gc.get_freeze_count() > 0
        with collector.kept_to_the_end():
            assert not gc.isenabled()
            _ = [[] for _ in range(1000)]
        assert gc.isenabled()
        assert gc.get_count()[0] < 1000  # frozen: no catch-up collection is due
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
    assert gc.isenabled()


def test_outside_main_the_collector_is_left_alone() -> None:
    """``run()`` alone (the in-process test harness) never pauses or freezes."""
    with collector.kept_to_the_end():
        assert gc.isenabled()
    collector.settle()
    assert gc.get_freeze_count() == 0


def test_a_disabled_collector_stays_disabled() -> None:
    gc.disable()
    try:
        with collector.owned(process=False), collector.kept_to_the_end():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
