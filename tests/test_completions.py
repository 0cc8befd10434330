"""The scripts in completions/ are what ``ngrok-inspect completions SHELL`` prints, and the
completion protocol they rely on answers through the real entry point."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli_invoke import invoke
from tests.support.live import send_traffic
from tests.support.servers import FixtureAgentServer

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


# -- dynamic values, asked of a real local agent ------------------------------------------


def _bash(words: str, env: dict[str, str] | None = None) -> tuple[list[str], str]:
    """What the bash script's completion request answers for ``words`` (the last word is
    the one being completed): the values, and stderr."""
    parts = words.split(" ")
    r = invoke(
        [],
        env={
            "_NGROK_INSPECT_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(parts) - 1),
            **(env or {}),
        },
    )
    assert r.exit_code == 0, r.stderr
    return r.stdout.split(), r.stderr


def _zsh(words: str, env: dict[str, str] | None = None) -> str:
    r = invoke(
        [],
        env={
            "_NGROK_INSPECT_COMPLETE": "complete_zsh",
            "_TYPER_COMPLETE_ARGS": words,
            **(env or {}),
        },
    )
    assert r.exit_code == 0, r.stderr
    return r.stdout


def _held_ids(api: str) -> list[str]:
    return invoke(["requests", "list", "-q", "--api-url", api]).stdout.split()


def test_ids_and_last_complete_for_show_replay_and_verify(local_agent: Any) -> None:
    send_traffic(local_agent.tunnels[0].public_url)
    api = local_agent.api_url
    ids = _held_ids(api)
    assert len(ids) == 12
    env = {"NGROK_INSPECT_API_URL": api}
    for words in (
        "ngrok-inspect requests show ",
        "ngrok-inspect show ",  # the shorthand completes like the command
        "ngrok-inspect replay ",
        "ngrok-inspect verify ",
    ):
        values, err = _bash(words, env)
        assert values == ["last", *ids], words
        assert err == ""
    # the agent named on the command line, before or after the command
    assert _bash(f"ngrok-inspect --api-url {api} show ")[0] == ["last", *ids]
    assert _bash(f"ngrok-inspect show --api-url {api} ")[0] == ["last", *ids]
    assert _bash(f"ngrok-inspect replay --api-url={api} {ids[3][:12]}")[0] == [
        i for i in ids if i.startswith(ids[3][:12])
    ]
    # zsh and fish show what each id is
    assert '"last":"the newest capture"' in _zsh("ngrok-inspect show ", env)
    assert f'"{ids[0]}":"GET /?conn=2 200"' in _zsh("ngrok-inspect show ", env)


def test_tunnel_names_complete_for_every_tunnel_option(upstream: Any) -> None:
    from ngrok_inspect.local_agent import LocalAgent, TunnelSpec

    specs = [TunnelSpec("web", upstream.url), TunnelSpec("hooks", upstream.url)]
    with LocalAgent(tunnels=specs) as agent:
        env = {"NGROK_INSPECT_API_URL": agent.api_url}
        for words in (
            "ngrok-inspect requests list --tunnel ",
            "ngrok-inspect export --tunnel ",
            "ngrok-inspect wait --timeout 5s --tunnel ",
            "ngrok-inspect replay last --tunnel ",
        ):
            assert sorted(_bash(words, env)[0]) == ["hooks", "web"], words
        assert _bash("ngrok-inspect stats --tunnel h", env)[0] == ["hooks"]
        url = agent.tunnels[0].public_url.replace(":", "\\\\:")  # zsh's escaped colon
        assert f'"web":"{url}"' in _zsh("ngrok-inspect stats --tunnel ", env)


def test_fixed_choices_complete_without_an_agent() -> None:
    assert _bash("ngrok-inspect show last --body ")[0] == ["request", "response"]
    assert _bash("ngrok-inspect export --format ")[0] == ["json", "ndjson", "har", "curl", "raw"]
    assert _bash("ngrok-inspect replay last --dry-run --format ")[0] == ["http", "json", "curl"]
    assert _bash("ngrok-inspect requests list --status ")[0] == ["2xx", "3xx", "4xx", "5xx"]
    assert _bash("ngrok-inspect stats -s 4xx,")[0] == ["4xx,2xx", "4xx,3xx", "4xx,5xx"]
    assert _bash("ngrok-inspect requests list --method P")[0] == ["POST", "PUT", "PATCH"]
    assert _bash("ngrok-inspect wait -m GET,D")[0] == ["GET,DELETE"]
    assert _bash("ngrok-inspect replay last --method DE")[0] == ["DELETE"]
    assert _bash("ngrok-inspect completions ")[0] == ["bash", "zsh", "fish"]


@pytest.mark.parametrize("mode", ["refuse", "hang", "html500"])
def test_an_agent_that_does_not_answer_completes_nothing_silently(
    broken_server: Any, mode: str
) -> None:
    env = {"NGROK_INSPECT_API_URL": broken_server(mode)}
    assert _bash("ngrok-inspect show ", env) == (["last"], "")
    assert _bash("ngrok-inspect requests list --tunnel ", env) == ([], "")


class _HostileAgent(FixtureAgentServer):
    """The recorded agent, with an id and a tunnel name a shell would act on."""

    EVIL = "x$(touch pwned)`id`*"

    def route(self, method: str, target: str, body: bytes) -> Any:
        answer = super().route(method, target, body)
        if method == "GET" and target.split("?")[0] in ("/api/tunnels", "/api/requests/http"):
            doc = json.loads(answer.body)
            for item in doc.get("tunnels", [])[:1]:
                item["name"] = self.EVIL
            for item in doc.get("requests", [])[:1]:
                item["id"] = self.EVIL
                item["request"]["uri"] = "/a'\"$(id)`x`:[bold]b"
            answer.body = json.dumps(doc).encode()
        return answer


def test_hostile_ids_and_names_are_not_offered_to_the_shell() -> None:
    with _HostileAgent() as agent:
        env = {"NGROK_INSPECT_API_URL": agent.url}
        values, _ = _bash("ngrok-inspect show ", env)
        assert values[0] == "last" and len(values) > 2
        assert all(re.fullmatch(r"[A-Za-z0-9_]+", v) for v in values)
        zsh = _zsh("ngrok-inspect show ", env)
        assert "$(" not in zsh and "`" not in zsh and "[bold]" not in zsh
        tunnels, _ = _bash("ngrok-inspect requests list --tunnel ", env)
        assert _HostileAgent.EVIL not in tunnels


def test_help_shows_one_way_to_install_completion() -> None:
    root = invoke(["--help"])
    assert root.exit_code == 0
    assert "--install-completion" not in root.stdout
    assert "--show-completion" not in root.stdout
    assert "completions" in root.stdout
    assert invoke(["--install-completion"]).exit_code == 2


def test_readme_install_lines_work_in_a_fresh_home(tmp_path: Path, local_agent: Any) -> None:
    """The README's lines, run as written by bash in an empty $HOME, install scripts that
    the shells load; the bash one, sourced, completes the ids of a live agent."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Shell completion", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "NGROK_INSPECT_API_URL": local_agent.api_url}
    done = subprocess.run(
        ["bash", "-e", "-c", block], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    installed = {
        "bash": home / ".local/share/bash-completion/completions/ngrok-inspect",
        "zsh": home / ".zfunc/_ngrok-inspect",
        "fish": home / ".config/fish/completions/ngrok-inspect.fish",
    }
    for shell, path in installed.items():
        assert path.read_text(encoding="utf-8") == FILES[shell].read_text(encoding="utf-8")
    send_traffic(local_agent.tunnels[0].public_url)
    ids = _held_ids(local_agent.api_url)
    script = (
        f"source {installed['bash']}\n"
        'COMP_WORDS=(ngrok-inspect requests show ""); COMP_CWORD=3\n'
        "_ngrok_inspect_completion ngrok-inspect\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    shown = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == ["last", *ids]
