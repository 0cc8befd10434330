"""The one output seam of the command line: every command writes through an :class:`Output`.

A command decides its :class:`OutputMode` once, from its flags and whether stdout is a
terminal (:meth:`Output.open`), then hands its results to the seam: ``records()`` for
lists of captures, ``record()`` for one streamed capture, ``request()`` for the detail
view, ``view()`` for any other document (JSON, a rich table, plain text), ``raw_bytes()``
for the byte-exact ``--body``/``--raw`` path, ``notice()``/``warn()`` for messages (stderr).

This is where the rules of the output are kept, once:

- **stdout is data only**; messages, prompts and progress go to stderr.
- **Escaping.** Text from traffic or from an agent is data, never terminal control: plain
  text and messages are passed through :mod:`ngrok_inspect.escape` here (the views escape
  their fields too; escaping is idempotent, so this is the net under every view), rich
  views get a console that never interprets markup, emoji codes or highlights, and JSON leaves C1,
  DEL and the bidi/zero-width controls as ``\\uXXXX`` escapes (the same JSON value; a
  terminal cannot obey them). ``raw_bytes`` writes bytes exactly, but refuses binary or
  control bytes to a terminal, as curl does.
- **Redaction.** An ``Output`` opened with a :class:`~ngrok_inspect.redaction.RedactionPolicy`
  (``--redact``) redacts every capture it writes (records, detail, raw exchange) and says
  how many values it replaced.
- **Honest I/O.** Data goes out through :func:`ngrok_inspect.atomicio.write_stdout`: a full
  disk or EIO is an ``OutputError`` (exit 1), a closed pipe stays a ``BrokenPipeError``
  that the error boundary ends quietly (exit 0).

rich is imported only when a terminal view is printed, so ``--json`` paths never load it.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ngrok_inspect import escape
from ngrok_inspect.errors import UsageError
from ngrok_inspect.render.output import color_disabled, dumps, is_terminal

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from ngrok_inspect.models import CapturedRequest
    from ngrok_inspect.redaction import RedactionPolicy
    from ngrok_inspect.render.requests import FollowTable

__all__ = ["Output", "OutputMode", "decide_mode"]


class OutputMode(enum.Enum):
    """How a command's data is written (decided once per invocation)."""

    TABLE = "table"  # stdout is a terminal (or FORCE_COLOR): rich tables and colour
    PLAIN = "plain"  # piped: plain text, one record per line, no colour
    JSON = "json"  # one JSON document (indented on a terminal, one line piped)
    NDJSON = "ndjson"  # one JSON object per line, flushed (streams)
    QUIET = "quiet"  # ids only for captures; nothing else


def decide_mode(
    *, json: bool = False, ndjson: bool = False, quiet: bool = False, terminal: bool | None = None
) -> OutputMode:
    """The mode from the flags (``--json`` > ``--quiet``) and the terminal.

    ``ndjson`` is ``--json`` of a streaming command (follow, wait, monitor, record):
    one object per line as they come."""
    if ndjson:
        return OutputMode.NDJSON
    if json:
        return OutputMode.JSON
    if quiet:
        return OutputMode.QUIET
    return (
        OutputMode.TABLE if (is_terminal() if terminal is None else terminal) else OutputMode.PLAIN
    )


def _message(text: str, values: tuple[object, ...]) -> str:
    """A message with each of ``values`` (agent or traffic data) escaped as one field, and
    the whole made safe line by line (the message's own newlines are kept)."""
    if values:
        text = text.format(*(escape.field(str(v)) for v in values))
    return "\n".join(escape.field(line) for line in text.split("\n"))


class Output:
    """Where one invocation's output goes (see the module docstring for the rules)."""

    def __init__(
        self,
        mode: OutputMode,
        *,
        no_color: bool = False,
        redact: RedactionPolicy | None = None,
        terminal: bool | None = None,
    ) -> None:
        self.mode = mode
        self.no_color = color_disabled(no_color)
        self.redact = redact
        #: stdout acts as a terminal (FORCE_COLOR counts): indented JSON, newline after --body
        self.terminal = is_terminal() if terminal is None else terminal
        self._console: Console | None = None
        self._follow_table: FollowTable | None = None

    @classmethod
    def open(
        cls,
        *,
        json: bool = False,
        ndjson: bool = False,
        quiet: bool = False,
        redact: RedactionPolicy | None = None,
        no_color: bool | None = None,
    ) -> Output:
        """The seam of this invocation: the mode from the flags and the terminal, colour
        from ``--no-color``/``NO_COLOR`` (the global options)."""
        if no_color is None:
            from ngrok_inspect.cli.app import state

            no_color = state().no_color
        return cls(
            decide_mode(json=json, ndjson=ndjson, quiet=quiet), no_color=no_color, redact=redact
        )

    # -- data (stdout) ---------------------------------------------------------------------

    @property
    def console(self) -> Console:
        """The rich console on stdout (terminal mode; created once)."""
        if self._console is None:
            from ngrok_inspect.render.output import make_console

            self._console = make_console(no_color=self.no_color)
        return self._console

    @property
    def width(self) -> int:
        """Columns of the terminal (tables fit it)."""
        return self.console.width

    def records(self, reqs: list[CapturedRequest], *, held_ids: list[str] | None = None) -> None:
        """Captures as ``requests list`` shows them: a JSON array, NDJSON lines, ids, a
        table (each id's shortest unique prefix among ``held_ids`` emphasised), or one
        tab-separated line each. Nothing for an empty list, but ``[]`` as JSON."""
        reqs = self._redacted(reqs)
        mode = self.mode
        if mode is OutputMode.JSON:
            self.document([r.to_dict() for r in reqs])
        elif mode is OutputMode.NDJSON:
            self.objects(r.to_dict() for r in reqs)
        elif not reqs:
            return
        elif mode is OutputMode.QUIET:
            self.text("".join(escape.field(r.id) + "\n" for r in reqs))
        elif mode is OutputMode.TABLE:
            from ngrok_inspect.ids import unique_prefix_lengths
            from ngrok_inspect.render.requests import list_renderable

            ids = held_ids if held_ids is not None else [r.id for r in reqs]
            table = list_renderable(reqs, width=self.width, prefixes=unique_prefix_lengths(ids))
            self.rich(table)
        else:
            from ngrok_inspect.render.requests import list_plain

            self.text(list_plain(reqs))

    def record(self, req: CapturedRequest) -> None:
        """One capture of a stream (follow, wait), flushed at once: an NDJSON line, a
        coloured row under a header printed once, the piped line of ``requests list``,
        or its id."""
        (req,) = self._redacted([req])
        if self.mode in (OutputMode.JSON, OutputMode.NDJSON):
            self.objects([req.to_dict()])
        elif self.mode is OutputMode.TABLE:
            from ngrok_inspect.render.requests import FollowTable

            if self._follow_table is None:
                # the columns of 'requests list' at this width, planned once
                self._follow_table = FollowTable(width=self.width)
                self.rich(self._follow_table.header())
            self.rich(self._follow_table.row(req))
        else:
            self.records([req])

    def request(self, req: CapturedRequest, public_urls: dict[str, str] | None = None) -> None:
        """One capture in detail (``requests show``): its JSON record, the rich view, or
        plain text; ``public_urls`` (tunnel name -> URL) completes its URL."""
        (req,) = self._redacted([req])
        if self.mode in (OutputMode.JSON, OutputMode.NDJSON):
            self.document(req.to_dict())
        elif self.mode is OutputMode.TABLE:
            from ngrok_inspect.render.requests import detail_renderable

            self.rich(detail_renderable(req, public_urls), crop=False)
        elif self.mode is OutputMode.QUIET:
            self.text(escape.field(req.id) + "\n")
        else:
            from ngrok_inspect.render.requests import detail_plain

            self.text(detail_plain(req, public_urls))

    def exchange(self, req: CapturedRequest, side: str | None = None) -> None:
        """The captured bytes (``show --raw``): of the request or the response (``side``),
        or of both, a blank line between them; redacted if asked."""
        from ngrok_inspect.render.requests import raw_exchange

        (req,) = self._redacted([req])
        what = f"the raw {side}" if side else "the raw exchange"
        self.raw_bytes(raw_exchange(req, side), what=what)

    def view(
        self,
        *,
        json: Callable[[], Any] | None = None,
        table: Callable[[int], RenderableType] | None = None,
        plain: Callable[[], str] | None = None,
        crop: bool = True,
    ) -> None:
        """A document in the form the mode asks for: ``json()`` (a JSON-able value),
        ``table(width)`` (a rich renderable; ``plain()`` when there is none), ``plain()``
        (text). Quiet writes nothing. A missing form writes nothing in its mode."""
        mode = self.mode
        if mode in (OutputMode.JSON, OutputMode.NDJSON):
            if json is not None:
                self.document(json())
        elif mode is OutputMode.TABLE and table is not None:
            self.rich(table(self.width), crop=crop)
        elif mode in (OutputMode.TABLE, OutputMode.PLAIN) and plain is not None:
            self.text(plain())

    def document(self, value: Any) -> None:
        """One JSON document: indented on a terminal, one line when piped (or NDJSON)."""
        indent = 2 if self.terminal and self.mode is not OutputMode.NDJSON else None
        self._write(dumps(value, indent=indent))

    def objects(self, values: Iterable[Any]) -> None:
        """JSON values, one a line, flushed (NDJSON)."""
        self._write("".join(dumps(v, indent=None) for v in values))

    def text(self, text: str) -> None:
        """Plain data text (a view for pipes): control characters but tab and newline
        made visible."""
        self._write(escape.body(text))

    def line(self, text: str, *, best_effort: bool = False) -> None:
        """One line of data, flushed, with every control character visible.
        ``best_effort``: a closed stdout is ignored (the agent's console lines, written
        from its own thread, must not stop it)."""
        try:
            self._write(escape.field(text) + "\n")
        except (BrokenPipeError, ValueError):
            if not best_effort:
                raise

    def row(self, *fields: object) -> None:
        """One tab-separated line of data, flushed; each field escaped (no raw tab or
        newline can split the record)."""
        self._write("\t".join(escape.field(str(f)) for f in fields) + "\n")

    def exact(self, data: str | bytes) -> None:
        """Data whose bytes are the contract (an export document, a completion script)."""
        self._write(data)

    def raw_bytes(self, data: bytes, *, what: str, newline_on_terminal: bool = False) -> None:
        """``--body``/``--raw``: the bytes exactly, except to a terminal when they hold
        binary or control bytes (a terminal would run them as commands), as curl refuses.
        ``newline_on_terminal``: end with a newline on a terminal so the prompt does not
        land after the data (piped, the bytes stay exact)."""
        if _stdout_is_tty() and not escape.is_terminal_safe(data):
            raise UsageError(
                f"not writing {what} to the terminal: it holds binary or control bytes",
                hint="Send it to a file (> body.bin) or a pipe (| xxd, | jq)",
            )
        self._write(data)
        if newline_on_terminal and data and not data.endswith(b"\n") and self.terminal:
            self._write("\n")

    def shown_bytes(self, data: bytes) -> None:
        """Bytes a person asked to see (``replay --show-response``): exact when piped; on a
        terminal as text with control characters visible (the replay already happened,
        so this does not refuse). Ends with a newline."""
        if _stdout_is_tty() and not escape.is_terminal_safe(data):
            self.text(data.decode("utf-8", "replace"))
        else:
            self._write(data)
        if data and not data.endswith(b"\n"):
            self._write("\n")

    def rich(self, renderable: RenderableType, *, crop: bool = True) -> None:
        """A rich renderable on the terminal console (tables: cropped, not wrapped). A plain
        string is shown as text (escaped), never parsed as markup."""
        if isinstance(renderable, str):
            from rich.text import Text

            renderable = Text(escape.body(renderable))
        if crop:
            self.console.print(renderable, crop=True, no_wrap=True, overflow="ellipsis")
        else:
            self.console.print(renderable)
        sys.stdout.flush()

    def _write(self, data: str | bytes) -> None:
        from ngrok_inspect.atomicio import write_stdout

        write_stdout(data)

    def _redacted(self, reqs: list[CapturedRequest]) -> list[CapturedRequest]:
        if self.redact is None:
            return reqs
        from ngrok_inspect.redaction import redact_requests

        done = redact_requests(reqs, self.redact)
        self.notice(f"Redacted {done.count} value{'s' if done.count != 1 else ''}")
        return done.requests

    # -- messages (stderr) -----------------------------------------------------------------

    @staticmethod
    def notice(text: str, *values: object) -> None:
        """A message for the human on stderr. ``values`` (agent or traffic data) fill the
        ``{}`` of ``text``, each escaped as one field; no control character gets through."""
        sys.stderr.write(_message(text, values) + "\n")
        sys.stderr.flush()

    @classmethod
    def warn(cls, text: str, *values: object) -> None:
        """``Warning: <text>`` on stderr."""
        cls.notice("Warning: " + text, *values)

    def alert(self, line: str) -> None:
        """A monitor ``ALERT`` line on stderr; ALERT in bold red when stderr is a terminal
        and colour is allowed."""
        text = _message(line, ())
        if is_terminal(sys.stderr) and not self.no_color:
            text = "\x1b[1;31mALERT\x1b[0m" + text.removeprefix("ALERT")
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    @staticmethod
    def progress_live() -> bool:
        """True when stderr is a terminal, where :meth:`progress` rewrites one line."""
        try:
            return sys.stderr.isatty()
        except (AttributeError, ValueError):
            return False

    @staticmethod
    def progress(text: str) -> None:
        """Rewrite the progress line on stderr (``\\r``, no newline)."""
        sys.stderr.write("\r" + _message(text, ()))
        sys.stderr.flush()

    @staticmethod
    def end_progress() -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()

    @staticmethod
    def ask(prompt: str) -> str | None:
        """Ask on stderr, read one line of stdin: the answer stripped, or None at the end
        of input (Ctrl-D, after which a newline keeps the next message on its own line)."""
        sys.stderr.write(prompt)
        sys.stderr.flush()
        answer = sys.stdin.readline()
        if not answer:
            sys.stderr.write("\n")
            return None
        return answer.strip()


def _stdout_is_tty() -> bool:
    # the real device, not FORCE_COLOR: what a terminal would obey is the question
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False
