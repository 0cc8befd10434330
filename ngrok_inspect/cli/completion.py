"""Values that shell completion offers for arguments and options.

Typer calls these during completion (``_NGROK_INSPECT_COMPLETE=complete_bash``), with the
command line parsed so far in ``ctx``: the global options typed (or their environment
variables) say which agent to ask. Asking the agent is bounded by a short timeout and
silent on any failure: a completion that prints an error, or hangs the shell, is worse
than none. Each function returns ``(value, help)`` pairs; typer keeps those starting with
the word being completed (zsh and fish show the help, bash only the values).

Values and help that come from the agent are hostile input that the shell evaluates
(zsh's script runs ``eval`` on the answer, bash globs it): an id or tunnel name outside a
plain character set is left out, and help text keeps only such characters.

Imports are cheap here (typer only): options.py points at these functions at import time.
"""

# No ``from __future__ import annotations`` here: typer reads these annotations at every
# start, and a string annotation costs it an ``eval`` (84 on ``requests list``, ~3 ms).
# Names imported for type checking only are quoted.

import re
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from ngrok_inspect.client import AgentClient

#: Seconds a completion may wait for the agent (per call; completion makes one or two).
AGENT_TIMEOUT = 1.0

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE")
STATUS_CLASSES = (
    ("2xx", "success"),
    ("3xx", "redirection"),
    ("4xx", "client error"),
    ("5xx", "server error"),
)
BODY_SIDES = (("request", "the request's body"), ("response", "the response's body"))
RAW_SIDES = (("request", "only the request's bytes"), ("response", "only the response's bytes"))
DRY_RUN_FORMATS = (("http", "the HTTP message"), ("json", "a JSON object"), ("curl", "a curl line"))
SHELLS = ("bash", "zsh", "fish")

#: Help longer than this is cut: a completion menu is one line per value.
HELP_CHARS = 60

Choices = list[tuple[str, str]]

# compiled by re on first use: only a completion request needs them (start-up)
_SAFE_VALUE = r"[A-Za-z0-9_.-]+"
_UNSAFE_HELP = r"[^A-Za-z0-9 _./:?&=%+,~@-]"


def methods() -> Choices:
    return [(m, "") for m in METHODS]


def method_list(incomplete: str) -> Choices:
    """A method to add to a comma-separated list (``-m GET,PO`` -> ``GET,POST``)."""
    return _after_comma(incomplete, methods())


def status_list(incomplete: str) -> Choices:
    """A status class to add to a comma-separated list (``-s 4xx,5`` -> ``4xx,5xx``)."""
    return _after_comma(incomplete, list(STATUS_CLASSES))


def _after_comma(incomplete: str, choices: Choices) -> Choices:
    """``choices`` appended to what is before the last comma, leaving out those given."""
    head, comma, _ = incomplete.rpartition(",")
    given = set(head.split(",")) if comma else set()
    return [(head + comma + value, help) for value, help in choices if value not in given]


def body_sides() -> Choices:
    return list(BODY_SIDES)


def raw_sides() -> Choices:
    return list(RAW_SIDES)


def dry_run_formats() -> Choices:
    return list(DRY_RUN_FORMATS)


def shells() -> Choices:
    return [(s, "") for s in SHELLS]


def export_formats() -> Choices:
    from ngrok_inspect.export import FORMAT_SPECS

    return [(f.name, f.description) for f in FORMAT_SPECS]


_COMMAND_LINE: list[str] = []


def set_command_line(words: list[str]) -> None:
    """The words typed before the one being completed (typer passes none to completers)."""
    _COMMAND_LINE[:] = words


def request_ids(ctx: typer.Context) -> Choices:
    """``last`` and the ids the agent (or ``--db``) holds, newest first, with their line."""
    choices: Choices = [("last", "the newest capture")]
    try:
        db = ctx.params.get("db")
        if db:
            from ngrok_inspect.archive import ArchiveSource

            with ArchiveSource(db) as source:
                entries = [_id_choice(r.to_dict()) for r in source.list_requests(limit=None)]
        else:
            from ngrok_inspect.client import ALL

            with _client(ctx, _COMMAND_LINE) as client:
                entries = [_id_choice(_summary(d)) for d in client.list_requests_raw(limit=ALL)]
    except Exception:  # completion never fails out loud (see the module docstring)
        return choices
    return choices + [entry for entry in entries if re.fullmatch(_SAFE_VALUE, entry[0])]


def tunnel_names(ctx: typer.Context) -> Choices:
    """The agent's tunnel names, with their public URL."""
    try:
        with _client(ctx, _COMMAND_LINE) as client:
            tunnels = client.tunnels()
    except Exception:  # completion never fails out loud
        return []
    return [(t.name, _help(t.public_url)) for t in tunnels if re.fullmatch(_SAFE_VALUE, t.name)]


def _client(ctx: typer.Context, words: list[str]) -> "AgentClient":
    """A client for the agent the command line names, with the completion timeout.

    The root context has the global options given before the command (and their
    environment variables); those given after it (``show --api-url 4041 <TAB>``), which
    the command line moves in front when it runs, are read from ``words``."""
    from ngrok_inspect.client import AgentClient
    from ngrok_inspect.settings import resolve_settings

    root = ctx.find_root().params
    given = _global_values(words)
    timeout = given.get("timeout")
    settings = resolve_settings(
        api_url=given.get("api_url", root.get("api_url")),
        config=given.get("config", root.get("config")),
        timeout=float(timeout) if timeout else root.get("timeout"),
    )
    return AgentClient(settings.api_url, timeout=min(settings.timeout, AGENT_TIMEOUT))


_GLOBAL_VALUES = {
    "--api-url": "api_url",
    "--config": "config",
    "--api-timeout": "timeout",  # not --timeout: after the command it is wait's own
}


def _global_values(words: list[str]) -> dict[str, str]:
    """The global options with a value in ``words`` (the last one wins)."""
    found: dict[str, str] = {}
    for i, tok in enumerate(words):
        name, eq, value = tok.partition("=")
        key = _GLOBAL_VALUES.get(name)
        if key is not None and (eq or i + 1 < len(words)):
            found[key] = value if eq else words[i + 1]
    return found


def _summary(entry: dict[str, object]) -> dict[str, object]:
    """The fields of an agent entry a completion line shows (no headers, no bodies)."""
    req = entry.get("request")
    resp = entry.get("response")
    return {
        "id": entry.get("id"),
        "method": req.get("method") if isinstance(req, dict) else None,
        "uri": req.get("uri") if isinstance(req, dict) else None,
        "status_code": resp.get("status_code") if isinstance(resp, dict) else None,
        "error": entry.get("error") if isinstance(entry.get("error"), str) else None,
    }


def _id_choice(record: dict[str, object]) -> tuple[str, str]:
    status = record.get("status_code") or ("failed" if record.get("error") else "pending")
    line = f"{record.get('method') or '?'} {record.get('uri') or ''} {status}"
    return str(record.get("id")), _help(line)


def _help(text: str) -> str:
    """``text`` with only characters no shell or markup gives a meaning to, cut short."""
    safe = re.sub(_UNSAFE_HELP, "?", text)
    return safe if len(safe) <= HELP_CHARS else safe[: HELP_CHARS - 1] + "~"
