"""Options shared by several commands, defined once as ``Annotated`` aliases.

``requests list``, ``export``, ``wait``, ``stats`` and ``monitor`` take the same filter
flags; use them like this and turn them into a :class:`~ngrok_inspect.filters.RequestFilter`
with :func:`build_filter`::

    @app.command("stats")
    def stats_command(
        tunnel: TunnelOpt = None, method: MethodOpt = None, status: StatusOpt = None,
        path: PathOpt = None, since: SinceOpt = None, errors: ErrorsOpt = False,
        header: HeaderOpt = None, body_contains: BodyContainsOpt = None,
        where: WhereOpt = None, as_json: JsonOpt = False,
    ) -> None:
        flt = build_filter(tunnel=tunnel, method=method, status=status, path=path,
                           since=since, errors=errors, header=header,
                           body_contains=body_contains, where=where)

Importing this module is cheap: it imports typer only (the filters module is imported
inside :func:`build_filter`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar

import typer
from typer.core import TyperCommand

from ngrok_inspect.cli import completion

if TYPE_CHECKING:
    from ngrok_inspect.filters import RequestFilter

FILTER_PANEL = "Filters"

TunnelOpt = Annotated[
    str | None,
    typer.Option(
        "--tunnel",
        metavar="NAME",
        help="Only this tunnel (exact name).",
        autocompletion=completion.tunnel_names,
        rich_help_panel=FILTER_PANEL,
    ),
]
MethodOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--method",
        "-m",
        metavar="METHOD",
        help="Only these methods (repeat or comma-separate: -m POST -m PUT, -m GET,HEAD).",
        autocompletion=completion.method_list,
        rich_help_panel=FILTER_PANEL,
    ),
]
StatusOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--status",
        "-s",
        metavar="CODES",
        help="Only these statuses: 404, 4xx, 500-599 (repeat or comma-separate).",
        autocompletion=completion.status_list,
        rich_help_panel=FILTER_PANEL,
    ),
]
PathOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--path",
        "-p",
        metavar="GLOB",
        help="Only paths matching this glob (/webhook*, /api/*/items); repeatable.",
        rich_help_panel=FILTER_PANEL,
    ),
]
SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar="WHEN",
        help="Only requests started after this: 10m, 2h, 1d or an ISO 8601 time.",
        rich_help_panel=FILTER_PANEL,
    ),
]
ErrorsOpt = Annotated[
    bool,
    typer.Option(
        "--errors",
        help="Only errors: status >= 400, no response (pending or failed), or a broken answer.",
        rich_help_panel=FILTER_PANEL,
    ),
]
HeaderOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--header",
        "-H",
        metavar="'NAME: GLOB'",
        help="Only requests with this request header matching the glob; repeatable (AND).",
        rich_help_panel=FILTER_PANEL,
    ),
]
BodyContainsOpt = Annotated[
    str | None,
    typer.Option(
        "--body-contains",
        metavar="TEXT",
        help="Only requests whose decoded request or response body contains TEXT.",
        rich_help_panel=FILTER_PANEL,
    ),
]
WhereOpt = Annotated[
    str | None,
    typer.Option(
        "--where",
        "-w",
        metavar="EXPR",
        help="Only requests matching the expression "
        '(status >= 500 and req.header.x-github-event == "push").',
        rich_help_panel=FILTER_PANEL,
    ),
]
JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print JSON records (the documented --json contract)."),
]
LimitOpt = Annotated[
    int,
    typer.Option(
        "--limit",
        "-n",
        min=1,
        metavar="N",
        help="Show at most N requests (newest first).",
    ),
]
"""``--limit`` with a default of 50 when used as ``limit: LimitOpt = 50``."""

OptionalLimitOpt = Annotated[
    int | None,
    typer.Option(
        "--limit",
        "-n",
        min=1,
        metavar="N",
        help="At most N requests (newest first). Default: everything the agent holds.",
    ),
]

#: The shared filter flags: parameter name -> (Annotated option type, default).
FILTER_PARAMS: dict[str, tuple[Any, Any]] = {
    "tunnel": (TunnelOpt, None),
    "method": (MethodOpt, None),
    "status": (StatusOpt, None),
    "path": (PathOpt, None),
    "since": (SinceOpt, None),
    "errors": (ErrorsOpt, False),
    "header": (HeaderOpt, None),
    "body_contains": (BodyContainsOpt, None),
    "where": (WhereOpt, None),
}

F = TypeVar("F", bound=Callable[..., Any])


def fill_optional_values(
    args: list[str], spec: Mapping[str, tuple[tuple[str, ...], str]]
) -> list[str]:
    """``args`` with each option of ``spec`` (name -> (choices, default)) given its value
    as ``--opt=value``: the next word when it is one of the choices, else the default."""
    out: list[str] = []
    i = 0
    while i < len(args):
        tok = args[i]
        if tok == "--":
            out.extend(args[i:])
            break
        if tok in spec:
            choices, default = spec[tok]
            if i + 1 < len(args) and args[i + 1] in choices:
                out.append(f"{tok}={args[i + 1]}")
                i += 2
            else:
                out.append(f"{tok}={default}")
                i += 1
            continue
        out.append(tok)
        i += 1
    return out


class OptionalValueCommand(TyperCommand):
    """A command with options whose value may be left out (typer has no such options):
    ``show last --raw`` is ``--raw=both``, ``show last --raw response`` gives the value.
    Subclasses set :attr:`optional_values`: option -> (the values it takes, its default).
    ``hoist_global_options`` reads it too (such an option does not swallow the next word)."""

    optional_values: ClassVar[dict[str, tuple[tuple[str, ...], str]]] = {}

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, fill_optional_values(args, self.optional_values))


def with_filters(func: F) -> F:
    """Give a command every shared filter flag; it receives them as one ``flt`` argument.

    ``func`` declares ``flt: RequestFilter`` among its parameters; Typer sees the nine
    filter options in its place (``--tunnel --method --status --path --since --errors
    --header --body-contains --where``), and a bad value exits 2 before ``func`` runs::

        @app.command("stats")
        @with_filters
        def stats_command(flt: RequestFilter, top: TopOpt = 10) -> None: ...
    """
    sig = inspect.signature(func, eval_str=True)
    own = [p for name, p in sig.parameters.items() if name != "flt"]
    if len(own) == len(sig.parameters):
        raise TypeError(f"{func.__name__} must take a 'flt' parameter to use @with_filters")
    filters = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=tp)
        for name, (tp, default) in FILTER_PARAMS.items()
    ]
    keyword_only = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]

    @functools.wraps(func)
    def command(**kwargs: Any) -> Any:
        flags = {name: kwargs.pop(name) for name in FILTER_PARAMS}
        flt = build_filter(**flags)
        if flt.tunnel and kwargs.get("db") is None:  # an archive is not the agent's tunnels
            _require_tunnel(flt.tunnel)
        return func(flt=flt, **kwargs)

    command.__signature__ = sig.replace(parameters=[*filters, *keyword_only])  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in [*filters, *keyword_only]}
    command.__annotations__["return"] = sig.return_annotation
    return command  # type: ignore[return-value]


def _require_tunnel(name: str) -> None:
    """Exit 4 when the agent answers and has no tunnel ``name``. An agent that does not
    answer is left to the command (wait waits for it; the others report it)."""
    from ngrok_inspect.cli.app import state
    from ngrok_inspect.errors import AgentUnreachableError

    try:
        with state().client() as client:
            client.require_tunnel(name)
    except AgentUnreachableError:
        return


def build_filter(
    *,
    tunnel: str | None = None,
    method: list[str] | None = None,
    status: list[str] | None = None,
    path: list[str] | None = None,
    since: str | None = None,
    errors: bool = False,
    header: list[str] | None = None,
    body_contains: str | None = None,
    where: str | None = None,
) -> RequestFilter:
    """The :class:`RequestFilter` the shared flags describe.

    Raises :class:`~ngrok_inspect.errors.UsageError` (exit 2) with a one-line cause and a
    hint on a bad value (``--status 6xx``, ``--since yesterday``, ``--where 'a ='``).
    """
    from ngrok_inspect.filters import RequestFilter

    return RequestFilter.parse(
        tunnel=tunnel,
        method=method or None,
        status=status or None,
        path=path or None,
        since=since,
        errors=errors,
        header=header or None,
        body_contains=body_contains,
        where=where,
    )


DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        metavar="FILE",
        help="Read from this archive (written by 'ngrok-inspect record') instead of the agent.",
    ),
]
