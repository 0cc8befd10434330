"""The edits ``replay`` applies, and applying them to an :class:`OutgoingRequest`.

Bad edits raise :class:`~ngrok_inspect.errors.UsageError` (exit 2) with a one-line cause
that names the option and the path, never the body's content.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from ngrok_inspect.errors import UsageError
from ngrok_inspect.replay.message import OutgoingRequest

__all__ = ["Edits", "apply_edits", "parse_json_path"]


@dataclass(frozen=True)
class Edits:
    """Every edit a replay can make (all optional; empty means "as captured")."""

    method: str | None = None
    path: str | None = None
    query_set: list[tuple[str, str]] = field(default_factory=list)
    query_del: list[str] = field(default_factory=list)
    headers_set: list[tuple[str, str]] = field(default_factory=list)
    headers_del: list[str] = field(default_factory=list)
    body: bytes | None = None
    json_set: list[tuple[str, str]] = field(default_factory=list)
    form_set: list[tuple[str, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self == Edits()

    @property
    def touches_body(self) -> bool:
        return self.body is not None or bool(self.json_set) or bool(self.form_set)


def parse_header(text: str) -> tuple[str, str]:
    """``'Name: value'`` -> ``(Name, value)``."""
    name, colon, value = text.partition(":")
    if not colon or not name.strip() or re.search(r"[\s:]", name.strip()):
        raise UsageError(
            f"-H expects 'Name: value', got {name.strip()[:40]!r}", hint="e.g. -H 'X-Debug: 1'"
        )
    if "\r" in value or "\n" in value:
        raise UsageError(
            f"header {name.strip()} contains a line break", hint="Give the value on one line"
        )
    return name.strip(), value.strip()


def parse_pair(text: str, option: str) -> tuple[str, str]:
    """``'k=v'`` -> ``(k, v)``."""
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise UsageError(
            f"{option} expects key=value, got {text[:40]!r}", hint=f"e.g. {option} page=2"
        )
    return key, value


_TOKEN = re.compile(r"([^.\[\]]+)|\[(-?\d+)\]|(\.)")


def parse_json_path(path: str) -> list[str | int]:
    """``'a.b[0]'`` -> ``['a', 'b', 0]``."""
    out: list[str | int] = []
    pos = 0
    expect_key = True
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if m is None:
            raise UsageError(f"--json-set: cannot read the path {path!r}", hint="Use a.b[0].c")
        if m.group(1) is not None:
            out.append(m.group(1))
        elif m.group(2) is not None:
            out.append(int(m.group(2)))
        expect_key = m.group(3) is not None
        pos = m.end()
    if not out or expect_key:
        raise UsageError(f"--json-set: cannot read the path {path!r}", hint="Use a.b[0].c")
    return out


def _set_path(doc: Any, path: list[str | int], value: Any, text: str) -> Any:
    node = doc
    for depth, key in enumerate(path):
        last = depth == len(path) - 1
        where = text if last else _show(path[: depth + 1])
        if isinstance(key, int):
            if not isinstance(node, list) or not -len(node) <= key < len(node):
                raise UsageError(
                    f"--json-set: the body has no {where}",
                    hint="Index an existing array element (see 'requests show ID --body request')",
                )
            if last:
                node[key] = value
            else:
                node = node[key]
        else:
            if not isinstance(node, dict) or (not last and key not in node):
                raise UsageError(
                    f"--json-set: the body has no {where}",
                    hint="Name existing objects; only the last key may be new",
                )
            if last:
                node[key] = value
            else:
                node = node[key]
    return doc


def dump_like(doc: Any, original: bytes) -> bytes:
    """``doc`` serialised in the original body's style (indent, separators, escaping,
    trailing newline), so untouched fields keep their bytes in the common cases."""
    text = original.decode("utf-8", "replace")
    m = re.search(r"[\[{]\r?\n([ \t]+)\S", text)
    indent: str | None = m.group(1) if m else None
    if indent is not None:
        out = json.dumps(doc, indent=indent, ensure_ascii="\\u" in text)
    else:
        spaced = re.search(r'"\s*:\s', text) is not None
        seps = (", ", ": ") if spaced else (",", ":")
        out = json.dumps(doc, separators=seps, ensure_ascii="\\u" in text)
    if text.endswith("\n") and not out.endswith("\n"):
        out += "\r\n" if text.endswith("\r\n") else "\n"
    return out.encode("utf-8")


def _show(path: list[str | int]) -> str:
    text = ""
    for k in path:
        text += f"[{k}]" if isinstance(k, int) else (f".{k}" if text else k)
    return text


def apply_edits(req: OutgoingRequest, edits: Edits) -> OutgoingRequest:
    """``req`` with ``edits`` applied (in the order: target, headers, body)."""
    out = req
    if edits.method:
        out = OutgoingRequest(**{**out.__dict__, "method": edits.method.upper()})
    target = out.target
    if edits.path is not None:
        if not edits.path.startswith("/"):
            raise UsageError(
                f"--path must start with '/', got {edits.path[:40]!r}",
                hint="e.g. --path '/hooks?x=1'",
            )
        target = edits.path
    if edits.query_set or edits.query_del:
        path, _, query = target.partition("?")
        pairs = parse_qsl(query, keep_blank_values=True)
        drop = set(edits.query_del)
        pairs = [(k, v) for k, v in pairs if k not in drop]
        for k, v in edits.query_set:
            idx = [i for i, (pk, _) in enumerate(pairs) if pk == k]
            if idx:
                pairs[idx[0]] = (k, v)
                pairs = [p for i, p in enumerate(pairs) if i not in idx[1:]]
            else:
                pairs.append((k, v))
        target = path + ("?" + urlencode(pairs) if pairs else "")
    if target != out.target:
        out = OutgoingRequest(**{**out.__dict__, "target": target})
    for name in edits.headers_del:
        out = out.del_header(name)
    for name, value in edits.headers_set:
        out = out.set_header(name, value)
    if edits.touches_body:
        out = _edit_body(out, edits)
    return out


def _edit_body(req: OutgoingRequest, edits: Edits) -> OutgoingRequest:
    if req.truncated and edits.body is None:
        raise UsageError(
            "the captured body was cut at the capture limit: an edit would send a broken body",
            hint="Give the whole body with --body TEXT|@file|-",
        )
    body = req.body if edits.body is None else edits.body
    if edits.json_set:
        try:
            doc = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise UsageError(
                "--json-set: the body is not JSON", hint="Use --body to replace it"
            ) from None
        for path_text, value_text in edits.json_set:
            try:
                value = json.loads(value_text)
            except ValueError:
                raise UsageError(
                    f"--json-set {path_text}: the value is not valid JSON",
                    hint="Quote strings as JSON: --json-set 'a.b=\"text\"'",
                ) from None
            doc = _set_path(doc, parse_json_path(path_text), value, path_text)
        body = dump_like(doc, body)
    if edits.form_set:
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        for k, v in edits.form_set:
            idx = [i for i, (pk, _) in enumerate(pairs) if pk == k]
            if idx:
                pairs[idx[0]] = (k, v)
            else:
                pairs.append((k, v))
        body = urlencode(pairs).encode()
    return req.with_body(body)
