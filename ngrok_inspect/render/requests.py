"""Views of captured requests: the list (table or plain lines) and the detail view.

``*_plain`` functions return text for pipes (no colour, no rich); ``*_renderable``
functions return rich renderables for terminals (rich imported lazily).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ngrok_inspect import escape
from ngrok_inspect.render.text import (
    Block,
    body_blocks,
    body_summary,
    choose_columns,
    duration_text,
    fit_cell,
    fit_widths,
    full_url,
    human_size,
    response_size,
    status_text,
    time_text,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from rich.console import RenderableType
    from rich.text import Text

    from ngrok_inspect.models import CapturedRequest, HttpMessage

LIST_COLUMNS = ("ID", "TIME", "TUNNEL", "METHOD", "PATH", "STATUS", "MS", "SIZE", "CLIENT")


def status_style(code: int | None, *, failed: bool = False) -> str:
    """Colour of a status by class: 2xx green, 3xx cyan, 4xx yellow, 5xx red; without a
    response, red when the exchange failed, magenta while pending."""
    if code is None:
        return "bold red" if failed else "magenta"
    if code >= 500:
        return "bold red"
    if code >= 400:
        return "yellow"
    if code >= 300:
        return "cyan"
    return "green"


def _row(req: CapturedRequest) -> list[str]:
    return [
        escape.field(req.id),
        time_text(req.start),
        escape.field(req.tunnel_name),
        escape.field(req.method),
        escape.field(req.request.uri),
        status_text(req),
        "-" if req.pending else duration_text(req.duration_ms),  # failed: until it failed
        human_size(response_size(req)),
        escape.field(req.remote_addr),
    ]


def list_plain(reqs: list[CapturedRequest]) -> str:
    """One tab-separated line per request (id, ISO start, tunnel, method, uri, status,
    ms, response bytes, client), no header: ready for ``cut``/``awk``."""
    lines = []
    for r in reqs:
        size = response_size(r)
        lines.append(
            "\t".join(
                [
                    escape.field(r.id),
                    r.start.isoformat(),
                    escape.field(r.tunnel_name),
                    escape.field(r.method),
                    escape.field(r.request.uri),
                    status_text(r),
                    "-" if r.pending else f"{r.duration_ms:.3f}",
                    "-" if size is None else str(size),
                    escape.field(r.remote_addr),
                ]
            )
        )
    return "".join(line + "\n" for line in lines)


#: Columns left out, in this order, until PATH gets 24 characters.
_DROP_ORDER = ["CLIENT", "TUNNEL", "SIZE", "TIME"]

#: What a ``--follow`` row reserves for each column: it cannot measure rows not seen yet,
#: so it plans with typical values (an id is 32; a method up to OPTIONS; 200.0 KiB; an
#: IPv4 client with its port), and then drops columns exactly as the list does.
FOLLOW_WIDTHS = {
    "ID": 32, "TIME": 8, "TUNNEL": 12, "METHOD": 7, "PATH": 1000, "STATUS": 7, "MS": 6,
    "SIZE": 9, "CLIENT": 21,
}  # fmt: skip


def _layout(natural: list[int], width: int) -> tuple[list[int], list[int]]:
    """The columns of LIST_COLUMNS to show in ``width`` characters (indexes) and their
    widths: the other columns go before the path is cut below 24 (people scan for it)."""
    names = list(LIST_COLUMNS)
    keep = choose_columns(names, natural, "PATH", width, _DROP_ORDER, flex_want=24)
    kept = [names[i] for i in keep]
    return keep, fit_widths([natural[i] for i in keep], kept.index("PATH"), width)


def _header_text(names: list[str], widths: list[int]) -> str:
    right = [name in ("MS", "SIZE") for name in names]
    head = "  ".join(fit_cell(n, w, right=r) for n, w, r in zip(names, widths, right, strict=True))
    return head.rstrip()


def _append_row(
    out: Text,
    req: CapturedRequest,
    cells: list[str],
    names: list[str],
    widths: list[int],
    prefixes: Mapping[str, int] | None,
) -> None:
    for i, (cell, w) in enumerate(zip(cells, widths, strict=True)):
        if i:
            out.append("  ")
        name = names[i]
        right = name in ("MS", "SIZE")
        style = status_style(req.status_code, failed=req.failed) if name == "STATUS" else ""
        if name == "ID" and prefixes is not None and req.id in prefixes:
            cut, fitted = prefixes[req.id], fit_cell(cell, w)
            out.append(fitted[:cut], style="bold")
            out.append(fitted[cut:], style="dim")
            continue
        style = "dim" if name in ("ID", "CLIENT", "TIME") else style
        out.append(fit_cell(cell, w, right=right), style=style)


def list_renderable(
    reqs: list[CapturedRequest], *, width: int = 120, prefixes: Mapping[str, int] | None = None
) -> RenderableType:
    """A table for terminals ``width`` wide: status coloured by class. When narrow, the
    client, tunnel, size and time columns go first, then the path is cut (ellipsis).

    ``prefixes`` (id -> length of its shortest unique prefix, see :mod:`ngrok_inspect.ids`)
    makes that prefix bold within the full id, which stays whole and copyable."""
    from rich.text import Text

    all_rows = [_row(r) for r in reqs]
    natural = [
        max([len(n), *(len(row[i]) for row in all_rows)]) for i, n in enumerate(LIST_COLUMNS)
    ]
    keep, widths = _layout(natural, width)
    names = [LIST_COLUMNS[i] for i in keep]
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append(_header_text(names, widths) + "\n", style="bold")
    for req, row in zip(reqs, all_rows, strict=True):
        _append_row(out, req, [row[i] for i in keep], names, widths, prefixes)
        out.append("\n")
    out.rstrip()
    return out


class FollowTable:
    """The rows of the ``requests list`` table one at a time, for ``--follow`` on a
    terminal: the same columns, names and order as the list at the same ``width``
    (widths planned with :data:`FOLLOW_WIDTHS`); the id is never cut."""

    def __init__(self, *, width: int = 120) -> None:
        natural = [FOLLOW_WIDTHS[n] for n in LIST_COLUMNS]
        self._keep, self.widths = _layout(natural, width)
        self.names = [LIST_COLUMNS[i] for i in self._keep]

    def header(self) -> Text:
        from rich.text import Text

        return Text(_header_text(self.names, self.widths), style="bold", no_wrap=True)

    def row(self, req: CapturedRequest) -> Text:
        from rich.text import Text

        out = Text(no_wrap=True, overflow="ellipsis")
        cells = _row(req)
        _append_row(out, req, [cells[i] for i in self._keep], self.names, self.widths, None)
        out.rstrip()
        return out


def _summary_rows(
    req: CapturedRequest, public_urls: dict[str, str] | None
) -> list[tuple[str, str]]:
    resp = req.response
    if resp is not None:
        status = escape.field(resp.status)
    else:
        status = "failed (no response)" if req.failed else "pending (no response yet)"
    rows = [
        ("Request", f"{escape.field(req.method)} {full_url(req, public_urls)}"),
        ("Status", status),
        *([("Error", escape.field(req.error))] if req.error else []),
        ("Duration", "-" if req.pending else f"{duration_text(req.duration_ms)} ms"),
        ("Time", time_text(req.start, full=True)),
        ("Tunnel", escape.field(req.tunnel_name)),
        ("Client", escape.field(req.remote_addr)),
        ("Id", escape.field(req.id)),
    ]
    return rows


def _no_response(req: CapturedRequest) -> str:
    """What the detail view says in place of a response."""
    if req.failed:
        return "none (the exchange failed: see Error)"
    return "none yet (pending)"


def _block_plain(block: Block) -> str:
    if block.kind == "table":
        width = max((len(k) for k, _ in block.rows), default=0)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in block.rows)
    if block.kind == "heading":
        return f"-- {block.text}"
    return block.text


def raw_error_note(msg: HttpMessage) -> str | None:
    """What the detail view says of a message whose ``raw`` the agent garbled."""
    if msg.raw_error is None:
        return None
    return (
        f"the agent's raw bytes are unreadable ({msg.raw_error}): the body is unknown, "
        "the headers are the agent's map"
    )


def _message_plain(title: str, msg: HttpMessage) -> list[str]:
    out = [f"== {title}: {escape.field(msg.start_line)}", ""]
    out.extend(f"{escape.field(k)}: {escape.field(v)}" for k, v in msg.header_lines)
    note = raw_error_note(msg)
    out += ["", f"-- body: {body_summary(msg.body)}", *([f"-- note: {note}"] if note else [])]
    out.extend(_block_plain(b) for b in body_blocks(msg.body))
    out.append("")
    return out


def detail_plain(req: CapturedRequest, public_urls: dict[str, str] | None = None) -> str:
    """The detail view as plain text: summary, request, response."""
    rows = _summary_rows(req, public_urls)
    width = max(len(k) for k, _ in rows)
    out = [f"{k + ':':<{width + 1}} {v}" for k, v in rows]
    out.append("")
    out.extend(_message_plain("Request", req.request))
    if req.response is not None:
        out.extend(_message_plain("Response", req.response))
    else:
        out += [f"== Response: {_no_response(req)}", ""]
    return "\n".join(out)


def _block_renderable(block: Block) -> RenderableType:
    from rich.syntax import Syntax
    from rich.table import Table
    from rich.text import Text

    if block.kind == "code" and block.lexer:
        return Syntax(
            block.text, block.lexer, theme="ansi_dark", word_wrap=True, background_color="default"
        )
    if block.kind == "table":
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        table.add_column("field", style="cyan")
        table.add_column("value")
        for k, v in block.rows:  # Text: a form field is never rich markup
            table.add_row(Text(k), Text(v))
        return table
    if block.kind == "note":
        return Text(block.text, style="italic yellow" if "truncated" in block.text else "dim")
    if block.kind == "heading":
        return Text(f"— {block.text}", style="bold")
    return Text(block.text)


#: A header name wider than this wraps within it (its value keeps room to the right).
HEADER_NAME_MAX = 40


def _header_line(name: str, value: str) -> RenderableType:
    """``Name: value``, a long value wrapping under its own start, not at column 0."""
    from rich.table import Table
    from rich.text import Text

    label = Text.assemble((escape.field(name), "cyan"), ": ")
    grid = Table.grid()
    grid.add_column(no_wrap=False, overflow="fold", max_width=HEADER_NAME_MAX + 2)
    grid.add_column(overflow="fold")
    grid.add_row(label, Text(escape.field(value)))
    return grid


def _message_renderable(title: str, msg: HttpMessage) -> list[RenderableType]:
    from rich.rule import Rule
    from rich.text import Text

    rule_title = Text.assemble((title, "bold"), " ", escape.field(msg.start_line))
    parts: list[RenderableType] = [Rule(rule_title, align="left")]
    parts.extend(_header_line(k, v) for k, v in msg.header_lines)
    if msg.header_lines:
        parts.append(Text(""))
    parts.append(Text(f"body · {body_summary(msg.body)}", style="bold dim"))
    note = raw_error_note(msg)
    if note:
        parts.append(Text(note, style="italic yellow"))
    parts.extend(_block_renderable(b) for b in body_blocks(msg.body))
    parts.append(Text(""))
    return parts


def detail_renderable(
    req: CapturedRequest, public_urls: dict[str, str] | None = None
) -> RenderableType:
    """The detail view for terminals: summary grid, then request and response sections."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for k, v in _summary_rows(req, public_urls):
        style = status_style(req.status_code, failed=req.failed) if k == "Status" else ""
        grid.add_row(k, Text(v, style=style))
    parts: list[RenderableType] = [grid, Text("")]
    parts.extend(_message_renderable("Request", req.request))
    if req.response is not None:
        parts.extend(_message_renderable("Response", req.response))
    else:
        style = status_style(None, failed=req.failed)
        parts.append(Text(f"Response: {_no_response(req)}", style=style))
    return Group(*parts)


def raw_exchange(req: CapturedRequest, side: str | None = None) -> bytes:
    """The captured bytes of the request or of the response (``side``), exactly; or of
    both, the request, a blank line, then the response (httpie separates them so too:
    a request body without a final newline would run into the status line)."""
    if side == "request":
        return req.request.raw
    if side == "response":
        return b"" if req.response is None else req.response.raw
    out = req.request.raw
    if req.response is not None:
        out += (b"\n" if out.endswith(b"\n") else b"\n\n") + req.response.raw
    return out
