"""The Typer application, its global options and the per-invocation state.

Command modules (``cli/cmd_*.py``) import :data:`app` (or create a sub-app registered in
``cli/commands.py``) and read the global options through :func:`state`.
"""

# No ``from __future__ import annotations`` here: typer reads these annotations at every
# start, and a string annotation costs it an ``eval`` (84 on ``requests list``, ~3 ms).
# Names imported for type checking only are quoted.

import os
from typing import TYPE_CHECKING, Annotated

import typer

from ngrok_inspect import __version__

if TYPE_CHECKING:
    from ngrok_inspect.client import AgentClient
    from ngrok_inspect.settings import Settings

app = typer.Typer(
    name="ngrok-inspect",
    help=(
        "Look at, replay and assert on HTTP traffic captured by an ngrok agent.\n\n"
        "Works against any ngrok 2.x/3.x agent (http://127.0.0.1:4040 by default) or the "
        "built-in local agent ('ngrok-inspect agent 8000').\n\n"
        "Shorthands: 'list' (or 'ls') and 'show' are 'requests list' and 'requests show'; "
        "'help COMMAND' is 'COMMAND --help'."
    ),
    no_args_is_help=True,
    # one way to install completion: the 'completions' command (typer's
    # --install-completion guesses the shell and edits rc files behind the user's back)
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class State:
    """Global options of one invocation (set by the root callback).

    A plain class, not a dataclass: creating a dataclass costs ~1 ms at import, on the
    start-up of every command."""

    __slots__ = ("_settings", "api_url", "config", "debug", "no_color", "timeout")

    def __init__(self) -> None:
        self.api_url: str | None = None
        self.config: str | None = None
        self.timeout: float | None = None
        self.no_color = False
        self.debug = False
        self._settings: Settings | None = None

    @property
    def settings(self) -> "Settings":
        """The resolved settings (flag > env > ngrok.yml > default), resolved once."""
        if self._settings is None:
            from ngrok_inspect.settings import resolve_settings

            self._settings = resolve_settings(
                api_url=self.api_url, config=self.config, timeout=self.timeout
            )
        return self._settings

    def client(self) -> "AgentClient":
        """A client for the resolved agent URL."""
        from ngrok_inspect.client import AgentClient

        s = self.settings
        return AgentClient(s.api_url, timeout=s.timeout, origin=s.origin)


_STATE = State()


def state() -> State:
    """The global options of the current invocation."""
    return _STATE


def reset_state() -> None:
    """Forget the previous invocation's options (CliRunner runs many in one process)."""
    global _STATE
    _STATE = State()


def _version_callback(value: bool) -> None:
    if value:
        from ngrok_inspect.cli.output import Output

        Output.open(no_color=True).exact(f"ngrok-inspect {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    api_url: Annotated[
        str | None,
        typer.Option(
            "--api-url",
            envvar="NGROK_INSPECT_API_URL",
            help="Agent API address (URL, host:port or port). Default: from ngrok.yml, "
            "else http://127.0.0.1:4040.",
            show_envvar=True,
        ),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            envvar="NGROK_CONFIG",
            help="ngrok config file(s) to find the agent in (comma-separated, later wins).",
            show_envvar=True,
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--api-timeout",
            "--timeout",
            help="Seconds to wait for each agent API call (--timeout: the old spelling, "
            "before the command; 'wait --timeout' is the whole wait).",
            min=0.01,
        ),
    ] = None,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="Plain output without colour (also NO_COLOR).")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Global options: before or after the command (ngrok-inspect status --api-url 4041)."""
    from typer._click.core import ParameterSource

    st = state()
    # typer reads NGROK_INSPECT_API_URL into the option; leave it to resolve_settings, so
    # errors can say the address came from the variable and not from --api-url
    from_env = ctx.get_parameter_source("api_url") is ParameterSource.ENVIRONMENT
    st.api_url = None if from_env else api_url
    st.config = config
    st.timeout = timeout
    st.no_color = no_color or bool(os.environ.get("NO_COLOR"))
    st.debug = debug
