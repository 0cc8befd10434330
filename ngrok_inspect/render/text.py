"""Plain-text building blocks shared by the terminal and the pipe views (no rich).

Formatting of sizes, durations, times, and of bodies: :func:`body_blocks` turns a
:class:`~ngrok_inspect.bodies.Body` into readable blocks (pretty JSON, form fields,
multipart parts, indented XML, text, a hex preview of binary data) that the rich view
highlights and the plain view prints as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from ngrok_inspect import escape

if TYPE_CHECKING:
    from ngrok_inspect.bodies import Body
    from ngrok_inspect.models import CapturedRequest

HEX_PREVIEW_BYTES = 64
MAX_TEXT_CHARS = 20_000


def human_size(n: int | None) -> str:
    """``0 B``, ``71 B``, ``200.0 KiB``, ``1.5 MiB``; ``-`` when unknown."""
    if n is None:
        return "-"
    if n < 1024:
        return f"{n} B"
    if n < 1024**2:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024**2:.1f} MiB"


def duration_text(ms: float | None) -> str:
    """Milliseconds with sensible precision: ``0.93``, ``12.4``, ``1520``."""
    if ms is None:
        return "-"
    if ms < 10:
        return f"{ms:.2f}"
    if ms < 100:
        return f"{ms:.1f}"
    return f"{ms:.0f}"


def time_text(when: datetime, *, full: bool = False) -> str:
    """Local wall-clock time (``16:33:06``), or date and time with offset when ``full``."""
    local = when.astimezone()
    if full:
        return local.isoformat(timespec="seconds")
    return local.strftime("%H:%M:%S")


def status_text(req: CapturedRequest) -> str:
    """``201``; without a response ``failed`` (an ``error`` says why) or ``pending``."""
    code = req.status_code
    if code is not None:
        return str(code)
    return "failed" if req.failed else "pending"


def response_size(req: CapturedRequest) -> int | None:
    """Decoded size of the response body; None while pending."""
    return None if req.response is None else req.response.body.size


def full_url(req: CapturedRequest, public_urls: dict[str, str] | None = None) -> str:
    """The public URL of the tunnel plus the request URI, when the tunnel is known."""
    base = (public_urls or {}).get(req.tunnel_name, "")
    return escape.field(base.rstrip("/") + req.request.uri if base else req.request.uri)


def fit_widths(natural: list[int], flex: int, total: int, *, flex_min: int = 8) -> list[int]:
    """Column widths for a table ``total`` characters wide with two spaces between
    columns: every column keeps its natural width but column ``flex``, which gets what is
    left (at least ``flex_min``, at most its natural width)."""
    widths = list(natural)
    others = sum(w for i, w in enumerate(widths) if i != flex)
    room = total - others - 2 * (len(widths) - 1)
    widths[flex] = max(min(flex_min, natural[flex]), min(natural[flex], room))
    return widths


def choose_columns(
    names: list[str],
    natural: list[int],
    flex: str,
    total: int,
    drop: list[str],
    *,
    flex_want: int = 8,
) -> list[int]:
    """Indexes of the columns to show in ``total`` characters: the columns in ``drop``
    are left out, in that order, until the others fit with ``flex`` at ``flex_want``
    characters (or its natural width, if less)."""
    keep = list(range(len(names)))
    for name in drop:
        need = sum(min(natural[i], flex_want) if names[i] == flex else natural[i] for i in keep)
        if need + 2 * (len(keep) - 1) <= total:
            break
        keep.remove(names.index(name))
    return keep


def fit_cell(text: str, width: int, *, right: bool = False) -> str:
    """``text`` padded to ``width``, or cut with an ellipsis."""
    if len(text) > width:
        text = text[: max(width - 1, 0)] + "…" if width > 0 else ""
    return text.rjust(width) if right else text.ljust(width)


@dataclass
class Block:
    """A piece of a body view: ``text`` with an optional syntax ``lexer`` or a ``table``
    of (name, value) rows; ``note`` blocks are remarks (size, truncation)."""

    kind: str  # "code" | "text" | "table" | "note" | "heading"
    text: str = ""
    lexer: str | None = None
    rows: list[tuple[str, str]] = field(default_factory=list)


def hex_preview(data: bytes, limit: int = HEX_PREVIEW_BYTES) -> str:
    """``xxd``-style lines of the first ``limit`` bytes."""
    lines = []
    for off in range(0, min(len(data), limit), 16):
        chunk = data[off : off + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:08x}  {hexes:<47}  {text}")
    return "\n".join(lines)


def _pretty_xml(text: str) -> str | None:
    try:
        from xml.dom import minidom

        pretty = minidom.parseString(text.encode("utf-8")).toprettyxml(indent="  ")
    except Exception:
        return None
    lines = [ln for ln in pretty.splitlines() if ln.strip()]
    if not text.lstrip().startswith("<?xml") and lines and lines[0].startswith("<?xml"):
        lines = lines[1:]
    return "\n".join(lines)


def _clip(text: str) -> tuple[str, int]:
    """The text cut at MAX_TEXT_CHARS and made safe to show (escape.body)."""
    if len(text) <= MAX_TEXT_CHARS:
        return escape.body(text), 0
    return escape.body(text[:MAX_TEXT_CHARS]), len(text) - MAX_TEXT_CHARS


def body_blocks(body: Body, *, depth: int = 0) -> list[Block]:
    """Readable blocks for a body, by kind; long text is cut (``--body`` gives all of it)."""
    blocks: list[Block] = []
    kind = body.kind
    if kind == "empty":
        pass  # the title says "empty" (or "0 B" for a part): nothing more to say
    elif kind == "json":
        text, cut = _clip(json.dumps(body.json, indent=2, ensure_ascii=False))
        blocks.append(Block("code", text, lexer="json"))
        if cut:
            blocks.append(Block("note", f"… {cut} more characters (use --body to get all)"))
    elif kind == "form" and body.form is not None:
        blocks.append(
            Block("table", rows=[(escape.field(k), escape.field(v)) for k, v in body.form])
        )
    elif kind == "multipart" and body.parts is not None:
        for n, part in enumerate(body.parts, 1):
            label = [f"part {n}"]
            if part.name is not None:
                label.append(f"name={escape.field(repr(part.name))}")
            if part.filename is not None:
                label.append(f"filename={escape.field(repr(part.filename))}")
            label.append(escape.field(part.body.content_type or "text/plain"))
            label.append(human_size(part.body.size))
            blocks.append(Block("heading", " · ".join(label)))
            blocks.extend(body_blocks(part.body, depth=depth + 1))
    elif kind in ("xml", "html"):
        raw = body.text or ""
        pretty = _pretty_xml(raw) if kind == "xml" or "\n" not in raw.strip() else None
        text, cut = _clip(pretty or raw)
        blocks.append(Block("code", text, lexer=kind))
        if cut:
            blocks.append(Block("note", f"… {cut} more characters (use --body to get all)"))
    elif kind == "binary":
        ctype = escape.field(body.content_type or "unknown type")
        blocks.append(Block("note", f"binary data, {human_size(body.size)}, {ctype}"))
        blocks.append(Block("text", hex_preview(body.data)))
        if body.size > HEX_PREVIEW_BYTES:
            blocks.append(Block("note", "… (use --body to get the bytes)"))
    else:
        text, cut = _clip(body.text or "")
        blocks.append(Block("text", text))
        if cut:
            blocks.append(Block("note", f"… {cut} more characters (use --body to get all)"))
    if depth == 0:
        if body.truncated:
            blocks.append(Block("note", truncated_note("truncated capture", body)))
        if body.decode_error:
            blocks.append(Block("note", f"not decoded: {escape.field(body.decode_error)}"))
    return blocks


def truncated_note(what: str, body: Body) -> str:
    """``<what>: the agent kept 1024 bytes of 5000`` for a body captured short."""
    declared = body.declared_length
    of = f" of {declared} bytes" if declared is not None else " bytes"
    return f"{what}: the agent kept {len(body.wire)}{of}"


def body_summary(body: Body) -> str:
    """``application/json · 71 B`` for section titles; a compressed body adds its size on
    the wire: ``application/json · 2.0 KiB · gzip, 312 B on the wire``."""
    if body.kind == "empty" and not body.wire:
        return "empty"
    bits = [escape.field(body.content_type or "no content-type"), human_size(body.size)]
    if body.encoding:
        bits.append(f"{escape.field(body.encoding)}, {human_size(len(body.wire))} on the wire")
    if body.truncated:
        bits.append("TRUNCATED")
    return " · ".join(bits)
