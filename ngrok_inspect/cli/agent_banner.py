"""What ``agent`` says once it listens: the banner, where the other commands find it, a
silent upstream, and the ready file a script waits for.

The other commands look for the agent at ``http://127.0.0.1:4040`` by default; when this
agent is elsewhere (4040 was taken, ``--web-addr``) the banner says how to point them at
it, and ``--ready-file`` hands the address to the next command of a script.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from ngrok_inspect.cli.output import Output
from ngrok_inspect.errors import UsageError
from ngrok_inspect.settings import DEFAULT_API_URL, ENV_API_URL

if TYPE_CHECKING:
    from ngrok_inspect.local_agent import LocalAgent

__all__ = ["ReadyFile", "api_url_argument", "note", "print_banner", "ready_lines"]


def note(text: str) -> None:
    """A line for the human, on stderr (through the seam: control characters escaped)."""
    Output.notice(text)


def api_url_argument(api_url: str) -> str:
    """The shortest ``--api-url`` value for ``api_url``: ``4041`` on 127.0.0.1, else host:port."""
    host_port = api_url.split("://", 1)[1]
    host, _, port = host_port.rpartition(":")
    return port if host == "127.0.0.1" else host_port


def print_banner(agent: LocalAgent, *, wanted: str, notes: list[str] | None = None) -> None:
    """Each tunnel (name, public URL -> upstream), the API URL, how the other commands find
    it, and warnings (an upstream that does not answer, a listener open to the network).
    The caller ends it with "Press Ctrl-C to stop." once the ready file is written."""
    from ngrok_inspect import __version__
    from ngrok_inspect.local_agent.addresses import is_loopback, parse_hostport
    from ngrok_inspect.local_agent.reachability import probe_upstream

    note(f"ngrok-inspect agent {__version__}: capturing locally (no ngrok account needed)")
    width = max(len(t.name) for t in agent.tunnels)
    for t in agent.tunnels:
        target = t.addr or "request bin (answers 200)"
        capture = "" if t.inspect else "  (inspect: false, not captured)"
        note(f"Tunnel  {t.name:<{width}}  {t.public_url} -> {target}{capture}")
    note(f"API     {agent.api_url}/api")
    for line in notes or []:
        note(line)
    if agent.api_url != DEFAULT_API_URL:
        wanted_port = parse_hostport(wanted)[1]
        moved = bool(wanted_port) and not agent.api_url.endswith(f":{wanted_port}")
        where = (
            f"port {wanted_port} was taken, so the API is on {agent.api_url}; point the other "
            "commands at it"
            if moved
            else "point the other commands at this agent"
        )
        note(
            f"Note: {where} with --api-url {api_url_argument(agent.api_url)}, or "
            f"{ENV_API_URL}={agent.api_url}"
        )
    for t in agent.tunnels:
        if t.addr is not None and t.upstream is not None:
            why = probe_upstream(t.upstream)
            if why is not None:
                note(
                    f"Warning: the upstream {t.addr} of tunnel {t.name!r} does not answer "
                    f"({why}); requests will get 502 until it listens"
                )
    hosts = {parse_hostport(agent.api_url)[0].strip("[]")}
    hosts |= {parse_hostport(t.public_url)[0].strip("[]") for t in agent.tunnels}
    for host in sorted(hosts):
        if not is_loopback(host):
            note(
                f"Warning: listening on {host}: other machines can reach the captured "
                "traffic; use 127.0.0.1 unless you mean it"
            )


def ready_lines(agent: LocalAgent) -> str:
    """``NGROK_INSPECT_API_URL=…`` and ``NGROK_INSPECT_PUBLIC_URL=…`` (the first tunnel):
    lines a POSIX shell can source (``. ./agent.env``) and a CI env file accepts."""
    return f"{ENV_API_URL}={agent.api_url}\nNGROK_INSPECT_PUBLIC_URL={agent.public_url}\n"


class ReadyFile:
    """``--ready-file FILE``: absent until the agent listens, then written atomically, and
    removed when the agent stops, so ``until [ -s FILE ]`` never reads a stale address."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path is None:
            return
        if not path.parent.is_dir():
            raise UsageError(
                f"cannot write the ready file {path}: directory {path.parent} does not exist",
                hint="Create the directory, or choose another --ready-file",
            )
        if path.is_dir():
            raise UsageError(
                f"cannot write the ready file {path}: it is a directory",
                hint="Give a file name to --ready-file",
            )
        self._remove()  # a file left by an earlier run must not look like this one's

    def write(self, agent: LocalAgent) -> None:
        """The agent listens (API and tunnels): publish its addresses."""
        from ngrok_inspect.atomicio import write_atomic

        if self.path is not None:
            write_atomic(self.path, ready_lines(agent), force=True)

    def close(self) -> None:
        """The agent stopped: its addresses are no longer true."""
        if self.path is not None:
            # gone already, or unremovable: nothing of ours left to clean
            with contextlib.suppress(OSError):
                self.path.unlink()

    def _remove(self) -> None:
        assert self.path is not None
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise UsageError(
                f"cannot replace the ready file {self.path} ({exc.strerror or exc})",
                hint="Choose another --ready-file",
            ) from None
