"""``ngrok-inspect completions SHELL``: print the shell completion script.

The scripts in ``completions/`` are this command's output (a test keeps them current).
"""

from __future__ import annotations

from typing import Annotated

import typer

from ngrok_inspect.cli import completion
from ngrok_inspect.cli.app import app
from ngrok_inspect.errors import UsageError

SHELLS = ("bash", "zsh", "fish")
PROG = "ngrok-inspect"
COMPLETE_VAR = "_NGROK_INSPECT_COMPLETE"


def completion_script(shell: str) -> str:
    """The completion script for ``shell`` (bash, zsh or fish)."""
    if shell not in SHELLS:
        raise UsageError(
            f"no completions for shell {shell!r}", hint=f"Choose one of: {', '.join(SHELLS)}"
        )
    from typer._completion_shared import get_completion_script

    script = get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell)
    return script.rstrip("\n") + "\n"


@app.command(
    "completions",
    epilog="Install (then open a new shell):\n\n"
    "  bash (needs the bash-completion package):\n\n"
    "    mkdir -p ~/.local/share/bash-completion/completions\n\n"
    "    ngrok-inspect completions bash > ~/.local/share/bash-completion/completions/"
    "ngrok-inspect\n\n"
    "  bash without it: add 'source <(ngrok-inspect completions bash)' to ~/.bashrc\n\n"
    "  zsh:  mkdir -p ~/.zfunc && ngrok-inspect completions zsh > ~/.zfunc/_ngrok-inspect\n\n"
    "    (and 'fpath+=~/.zfunc' before 'compinit' in ~/.zshrc)\n\n"
    "  fish: mkdir -p ~/.config/fish/completions && ngrok-inspect completions fish"
    " > ~/.config/fish/completions/ngrok-inspect.fish",
)
def completions_command(
    shell: Annotated[
        str,
        typer.Argument(
            metavar="SHELL", help="bash, zsh or fish.", autocompletion=completion.shells
        ),
    ],
) -> None:
    """Print the completion script for a shell (see the install lines below)."""
    from ngrok_inspect.cli.output import Output

    Output.open().exact(completion_script(shell))
