"""The ``--where`` expression language: a small, safe filter over the JSON record.

A hand-written tokenizer and recursive-descent parser build a tree of plain objects;
evaluation walks that tree. Nothing is ever passed to ``eval``/``exec``, no attribute of
a Python object is reachable, and the only "code" an expression can run is a regular
expression compiled from one of its own string literals.

Grammar (keywords are case-insensitive; ``&&``, ``||`` and ``!`` are aliases)::

    expr       := or
    or         := and ( "or" and )*
    and        := not ( "and" not )*
    not        := "not" not | comparison
    comparison := operand [ ( "==" | "!=" | "<" | "<=" | ">" | ">=" ) operand
                          | ( "~" | "!~" ) STRING
                          | [ "not" ] "in" "[" [ literal ( "," literal )* ] "]" ]
    operand    := literal | field | "(" expr ")"
    literal    := STRING | NUMBER | "true" | "false" | "null"
    field      := "method" | "path" | "uri" | "status" | "duration_ms" | "tunnel"
                | "remote_addr" | "id"
                | ("req" | "res") "." "header" ( "[" STRING "]" | "." HEADER-NAME )
                | ("req" | "res") "." "body"
                | ("req" | "res") "." "json" ( "." NAME | "[" (STRING | INTEGER) "]" )*

Semantics: a missing field (no response yet, a header that is absent, a JSON path that
does not exist, a body that is not JSON) is ``null``. Every comparison with ``null`` is
false except ``== null`` (and ``!= null`` on a present value). Numbers compare with
numeric strings numerically (header values are strings: ``req.header["content-length"] >
1000`` works). ``~`` is :func:`re.search` of the pattern in the value (a number or a JSON
value is searched in its JSON text). A bare operand is true when its value is truthy.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ngrok_inspect.errors import UsageError

if TYPE_CHECKING:
    from ngrok_inspect.models import CapturedRequest, HttpMessage

__all__ = ["Expression", "ExpressionError", "node_text", "parse_expression"]

MAX_EXPRESSION_LENGTH = 4096
MAX_DEPTH = 48
MAX_PATTERN_LENGTH = 1000

SIMPLE_FIELDS = ("method", "path", "uri", "status", "duration_ms", "tunnel", "remote_addr", "id")
_GRAMMAR_HINT = (
    'Example: --where \'status >= 400 and req.header["x-github-event"] == "push"\'; '
    "see the grammar in docs/watch.md"
)


class ExpressionError(UsageError):
    """A ``--where`` expression that does not parse (exit 2).

    ``column`` is 1-based; the message shows the expression with a caret under it.
    """

    def __init__(self, reason: str, text: str, column: int) -> None:
        self.reason = reason
        self.text = text
        self.column = column
        super().__init__(
            f"invalid --where expression: {reason} (column {column})\n{_caret(text, column)}",
            hint=_GRAMMAR_HINT,
        )


def _caret(text: str, column: int, width: int = 72) -> str:
    shown = re.sub(r"\s", " ", text)
    start = 0
    if len(shown) > width:
        start = max(0, min(column - 1 - width // 2, len(shown) - width))
        shown = shown[start : start + width]
    return f"  {shown}\n  {' ' * (column - 1 - start)}^"


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Token:
    """One lexical token: ``kind`` is NAME, STRING, NUMBER, OP, KEYWORD or END."""

    kind: str
    value: Any
    pos: int  # 0-based offset in the text
    text: str  # the source characters


_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}
_OPS = ("==", "!=", "<=", ">=", "!~", "&&", "||", "<", ">", "~", "!", "(", ")", "[", "]", ",", ".")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEADER_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; :class:`ExpressionError` on a character it cannot use."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "\"'":
            value, end = _read_string(text, i)
            tokens.append(Token("STRING", value, i, text[i:end]))
            i = end
            continue
        m = _NUMBER_RE.match(text, i)
        if m and (ch != "-" or not tokens or tokens[-1].kind == "OP"):
            raw = m.group()
            try:
                number: float | int = float(raw) if any(c in raw for c in ".eE") else int(raw)
            except ValueError:
                raise ExpressionError("number too long", text, i + 1) from None
            if isinstance(number, float) and not math.isfinite(number):
                raise ExpressionError("number out of range", text, i + 1)
            tokens.append(Token("NUMBER", number, i, raw))
            i = m.end()
            continue
        if _after_header_dot(tokens):
            # req.header.x-github-event: a header name, dashes included
            m = _HEADER_NAME_RE.match(text, i)
            if m:
                tokens.append(Token("STRING", m.group(), i, m.group()))
                i = m.end()
                continue
        m = _NAME_RE.match(text, i)
        if m:
            word = m.group()
            low = word.lower()
            kind = "KEYWORD" if low in _KEYWORDS else "NAME"
            tokens.append(Token(kind, low if kind == "KEYWORD" else word, i, word))
            i = m.end()
            continue
        for op in _OPS:
            if text.startswith(op, i):
                canonical = {"&&": "and", "||": "or", "!": "not"}.get(op)
                if canonical:
                    tokens.append(Token("KEYWORD", canonical, i, op))
                else:
                    tokens.append(Token("OP", op, i, op))
                i += len(op)
                break
        else:
            if ch == "=":
                raise ExpressionError("'=' is not an operator: use '==' to compare", text, i + 1)
            shown = ch if ch.isprintable() else repr(ch)
            raise ExpressionError(f"unexpected character {shown!r}", text, i + 1)
    tokens.append(Token("END", None, n, ""))
    return tokens


def _after_header_dot(tokens: list[Token]) -> bool:
    """True right after ``req.header.`` / ``res.headers.``."""
    if len(tokens) < 4:
        return False
    side, dot1, word, dot2 = tokens[-4:]
    return (
        side.kind == "NAME"
        and side.value in ("req", "res")
        and dot1.value == "."
        and word.kind == "NAME"
        and word.value in ("header", "headers")
        and dot2.kind == "OP"
        and dot2.value == "."
    )


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            else:  # unknown escapes stay as written, so regexes like "\d+" read naturally
                out.append(ch + nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    raise ExpressionError("unterminated string", text, start + 1)


# --------------------------------------------------------------------------- tree


class Source(Protocol):
    """What an expression reads: the simple fields and each side's headers and body."""

    def field(self, name: str) -> Any: ...
    def header(self, side: str, name: str) -> str | None: ...
    def json(self, side: str) -> Any: ...
    def body(self, side: str) -> str | None: ...


class Node:
    """Base of the expression tree."""

    def value(self, src: Source) -> Any:
        """The node's value (JSON-like: None, bool, int, float, str, list, dict)."""
        raise NotImplementedError


@dataclass
class Literal(Node):
    """A string, number, bool or null literal."""

    const: Any

    def value(self, src: Source) -> Any:
        return self.const


@dataclass
class Field(Node):
    """``method``, ``status``, ``req.header["x"]``, ``res.json.a[0]`` …"""

    kind: str  # "simple" | "header" | "json" | "body"
    name: str = ""  # simple field name or header name
    side: str = ""  # "req" | "res"
    steps: tuple[str | int, ...] = ()  # JSON path

    def value(self, src: Source) -> Any:
        if self.kind == "simple":
            return src.field(self.name)
        if self.kind == "header":
            return src.header(self.side, self.name)
        if self.kind == "body":
            return src.body(self.side)
        cur = src.json(self.side)
        for step in self.steps:
            if isinstance(step, str):
                if not isinstance(cur, dict):
                    return None
                cur = cur.get(step)
            else:
                if not isinstance(cur, list) or not -len(cur) <= step < len(cur):
                    return None
                cur = cur[step]
        return cur


@dataclass
class Compare(Node):
    """``left OP right`` for == != < <= > >=."""

    op: str
    left: Node
    right: Node

    def value(self, src: Source) -> bool:
        a, b = self.left.value(src), self.right.value(src)
        if self.op == "==":
            return _eq(a, b)
        if self.op == "!=":
            if a is None or b is None:
                # "x != null" asks whether x is present; any other comparison with a
                # missing value is false.
                if a is None and b is None:
                    return False
                null_side = self.left if a is None else self.right
                return isinstance(null_side, Literal)
            return not _eq(a, b)
        return _order(self.op, a, b)


@dataclass
class Match(Node):
    """``left ~ "regex"`` (re.search); ``negate`` for ``!~``."""

    left: Node
    pattern: re.Pattern[str]
    negate: bool = False

    def value(self, src: Source) -> bool:
        subject = _as_text(self.left.value(src))
        if subject is None:
            return False
        found = self.pattern.search(subject) is not None
        return found != self.negate


@dataclass
class In(Node):
    """``left in [a, b]`` / ``left not in [..]``."""

    left: Node
    items: tuple[Any, ...]
    negate: bool = False

    def value(self, src: Source) -> bool:
        v = self.left.value(src)
        if v is None and None not in self.items:
            return False
        found = any(_eq(v, item) for item in self.items)
        return found != self.negate


@dataclass
class BoolOp(Node):
    """``and`` / ``or`` over two or more operands (short-circuit)."""

    op: str
    operands: tuple[Node, ...]

    def value(self, src: Source) -> bool:
        if self.op == "and":
            return all(_truthy(o.value(src)) for o in self.operands)
        return any(_truthy(o.value(src)) for o in self.operands)


@dataclass
class Not(Node):
    """``not x``."""

    operand: Node

    def value(self, src: Source) -> bool:
        return not _truthy(self.operand.value(src))


def _truthy(v: Any) -> bool:
    return v is not None and bool(v)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _num(v: Any) -> float | None:
    if _is_number(v):
        return float(v)
    if isinstance(v, str):
        try:
            f = float(v.strip())
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def _eq(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) or _is_number(b):
        x, y = _num(a), _num(b)
        return x is not None and y is not None and x == y
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    try:
        return bool(a == b)
    except Exception:  # pragma: no cover - JSON values always compare
        return False


def _order(op: str, a: Any, b: Any) -> bool:
    if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
        return False
    x: Any
    y: Any
    if _is_number(a) or _is_number(b):
        x, y = _num(a), _num(b)
        if x is None or y is None:
            return False
    elif isinstance(a, str) and isinstance(b, str):
        x, y = a, b
    else:
        return False
    if op == "<":
        return bool(x < y)
    if op == "<=":
        return bool(x <= y)
    if op == ">":
        return bool(x > y)
    return bool(x >= y)


def _as_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, reason: str, tok: Token | None = None) -> ExpressionError:
        t = tok or self.tok
        return ExpressionError(reason, self.text, t.pos + 1)

    def advance(self) -> Token:
        t = self.tokens[self.i]
        if t.kind != "END":
            self.i += 1
        return t

    def at(self, kind: str, value: Any = None) -> bool:
        t = self.tok
        return t.kind == kind and (value is None or t.value == value)

    def expect_op(self, op: str, what: str) -> Token:
        if not self.at("OP", op):
            raise self.error(f"expected {what}{self._found()}")
        return self.advance()

    def _found(self) -> str:
        t = self.tok
        return ", found end of expression" if t.kind == "END" else f", found {t.text!r}"

    def parse(self) -> Node:
        if self.tok.kind == "END":
            raise self.error("empty expression")
        node = self.parse_or()
        if self.tok.kind != "END":
            if self.tok.kind == "OP" and self.tok.value in ("==", "!=", "<", "<=", ">", ">="):
                raise self.error("comparisons cannot be chained; join them with 'and'")
            if self.at("OP", ")"):
                raise self.error("unbalanced ')'")
            raise self.error(f"expected 'and', 'or' or end of expression{self._found()}")
        return node

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"expression nested deeper than {MAX_DEPTH} levels")

    def parse_or(self) -> Node:
        self._enter()
        parts = [self.parse_and()]
        while self.at("KEYWORD", "or"):
            self.advance()
            parts.append(self.parse_and())
        self.depth -= 1
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))

    def parse_and(self) -> Node:
        parts = [self.parse_not()]
        while self.at("KEYWORD", "and"):
            self.advance()
            parts.append(self.parse_not())
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def parse_not(self) -> Node:
        if self.at("KEYWORD", "not"):
            self._enter()
            self.advance()
            node = Not(self.parse_not())
            self.depth -= 1
            return node
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        left = self.parse_operand()
        t = self.tok
        if t.kind == "OP" and t.value in ("==", "!=", "<", "<=", ">", ">="):
            self.advance()
            right = self.parse_operand()
            return Compare(t.value, left, right)
        if t.kind == "OP" and t.value in ("~", "!~"):
            self.advance()
            return Match(left, self.parse_pattern(), negate=t.value == "!~")
        if self.at("KEYWORD", "in"):
            self.advance()
            return In(left, self.parse_list())
        if self.at("KEYWORD", "not") and self.tokens[self.i + 1].value == "in":
            self.advance()
            self.advance()
            return In(left, self.parse_list(), negate=True)
        return left

    def parse_pattern(self) -> re.Pattern[str]:
        t = self.tok
        if t.kind != "STRING":
            raise self.error(f"expected a regular expression in quotes after '~'{self._found()}")
        self.advance()
        if len(t.value) > MAX_PATTERN_LENGTH:
            raise self.error(f"regular expression longer than {MAX_PATTERN_LENGTH} characters", t)
        try:
            return re.compile(t.value)
        except re.error as exc:
            raise self.error(f"invalid regular expression: {exc.msg}", t) from None
        except (OverflowError, RecursionError, ValueError):
            raise self.error("invalid regular expression", t) from None

    def parse_list(self) -> tuple[Any, ...]:
        self.expect_op("[", "'[' after 'in'")
        items: list[Any] = []
        if self.at("OP", "]"):
            self.advance()
            return ()
        while True:
            lit = self.parse_literal()
            if lit is None:
                raise self.error(f"expected a literal in the list{self._found()}")
            items.append(lit.const)
            if self.at("OP", ","):
                self.advance()
                if self.at("OP", "]"):  # trailing comma
                    self.advance()
                    return tuple(items)
                continue
            self.expect_op("]", "',' or ']' in the list")
            return tuple(items)

    def parse_literal(self) -> Literal | None:
        t = self.tok
        if t.kind in ("STRING", "NUMBER"):
            self.advance()
            return Literal(t.value)
        if t.kind == "KEYWORD" and t.value in ("true", "false", "null"):
            self.advance()
            return Literal({"true": True, "false": False, "null": None}[t.value])
        return None

    def parse_operand(self) -> Node:
        lit = self.parse_literal()
        if lit is not None:
            return lit
        t = self.tok
        if self.at("OP", "("):
            self._enter()
            self.advance()
            node = self.parse_or()
            self.expect_op(")", "')'")
            self.depth -= 1
            return node
        if t.kind == "NAME":
            return self.parse_field()
        if t.kind == "END":
            raise self.error("expected a value, found end of expression")
        raise self.error(f"expected a field or a value, found {t.text!r}")

    def parse_field(self) -> Node:
        t = self.advance()
        name = t.value
        if name in SIMPLE_FIELDS:
            return Field("simple", name=name)
        if name == "status_code":
            return Field("simple", name="status")
        if name not in ("req", "res"):
            known = ", ".join((*SIMPLE_FIELDS, "req.…", "res.…"))
            raise self.error(f"unknown field {name!r} (known: {known})", t)
        self.expect_op(".", f"'.' after '{name}' (req.header[…], req.json…, req.body)")
        part = self.tok
        if part.kind != "NAME" or part.value not in ("header", "headers", "json", "body"):
            raise self.error(f"expected 'header', 'json' or 'body' after '{name}.'")
        self.advance()
        if part.value in ("header", "headers"):
            if self.at("OP", "."):  # req.header.content-type
                self.advance()
                key = self.tok
                if key.kind != "STRING":
                    raise self.error("expected a header name after 'header.'")
                self.advance()
                return Field("header", name=key.value, side=name)
            self.expect_op("[", "'[' or '.' after 'header'")
            key = self.tok
            if key.kind != "STRING":
                raise self.error('expected a header name in quotes, e.g. header["content-type"]')
            self.advance()
            self.expect_op("]", "']'")
            return Field("header", name=key.value, side=name)
        if part.value == "body":
            return Field("body", side=name)
        steps: list[str | int] = []
        while True:
            if self.at("OP", "."):
                self.advance()
                k = self.tok
                if k.kind in ("NAME", "KEYWORD"):
                    steps.append(k.text)
                elif k.kind == "NUMBER" and isinstance(k.value, int):
                    steps.append(k.value)
                else:
                    raise self.error("expected a key name after '.' (use [\"…\"] for others)")
                self.advance()
            elif self.at("OP", "["):
                self.advance()
                k = self.tok
                if k.kind == "STRING" or (k.kind == "NUMBER" and isinstance(k.value, int)):
                    steps.append(k.value)
                else:
                    raise self.error("expected a quoted key or an integer index inside [ ]")
                self.advance()
                self.expect_op("]", "']'")
            else:
                break
        return Field("json", side=name, steps=tuple(steps))


# --------------------------------------------------------------------------- explaining


#: A value quoted in an explanation is cut to this many characters.
EXPLAIN_VALUE_CHARS = 60


def node_text(node: Node) -> str:
    """``node`` written back as expression text (a canonical spelling of what was typed)."""
    if isinstance(node, Literal):
        return json.dumps(node.const, ensure_ascii=False)
    if isinstance(node, Field):
        if node.kind == "simple":
            return node.name
        if node.kind == "header":
            return f"{node.side}.header[{json.dumps(node.name)}]"
        if node.kind == "body":
            return f"{node.side}.body"
        path = "".join(
            f".{s}" if isinstance(s, str) and s.isidentifier() else f"[{json.dumps(s)}]"
            for s in node.steps
        )
        return f"{node.side}.json{path}"
    if isinstance(node, Compare):
        return f"{node_text(node.left)} {node.op} {node_text(node.right)}"
    if isinstance(node, Match):
        op = "!~" if node.negate else "~"
        return f"{node_text(node.left)} {op} {json.dumps(node.pattern.pattern)}"
    if isinstance(node, In):
        items = ", ".join(json.dumps(i, ensure_ascii=False) for i in node.items)
        return f"{node_text(node.left)} {'not in' if node.negate else 'in'} [{items}]"
    if isinstance(node, BoolOp):
        return f" {node.op} ".join(_grouped(o) for o in node.operands)
    if isinstance(node, Not):
        return f"not {_grouped(node.operand)}"
    return "?"


def _grouped(node: Node) -> str:
    text = node_text(node)
    return f"({text})" if isinstance(node, BoolOp) else text


def _shown(field: Field, value: Any) -> str:
    """How an explanation quotes the value a field had: secrets (by the export policy's
    names) are not repeated, and long or control-laden values are made safe and short."""
    from ngrok_inspect import escape
    from ngrok_inspect.redaction import DEFAULT_POLICY, REDACTED

    if value is None:
        return "missing"
    if field.kind == "header" and DEFAULT_POLICY.is_secret_header(field.name):
        return REDACTED
    if field.kind == "json":
        names = [s for s in field.steps if isinstance(s, str)]
        if names and DEFAULT_POLICY.is_secret_param(names[-1]):
            return REDACTED
    if field.kind == "body":
        return f"a body of {len(value)} characters"
    text = escape.field(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    if len(text) > EXPLAIN_VALUE_CHARS:
        text = text[: EXPLAIN_VALUE_CHARS - 1] + "…"
    return text


def _why(node: Node, src: Source) -> str:
    """One false part of an expression, said with the value its field had."""
    if isinstance(node, Field):
        return f"{node_text(node)} was {_shown(node, node.value(src))}"
    if isinstance(node, (Compare, Match, In)):
        sides = (node.left, node.right) if isinstance(node, Compare) else (node.left,)
        found = [
            f"{node_text(n)} was {_shown(n, n.value(src))}" for n in sides if isinstance(n, Field)
        ]
        if found:
            return f"{', '.join(found)} (wanted {node_text(node)})"
    if isinstance(node, BoolOp) and node.op == "or":
        return "none of: " + "; ".join(_why(o, src) for o in node.operands)
    return f"{node_text(node)} was false"


# --------------------------------------------------------------------------- sources


class RequestSource:
    """Reads fields lazily from a :class:`CapturedRequest` (bodies decoded only if used)."""

    def __init__(self, req: CapturedRequest) -> None:
        self.req = req

    def _msg(self, side: str) -> HttpMessage | None:
        return self.req.request if side == "req" else self.req.response

    _GETTERS: ClassVar[dict[str, Callable[[CapturedRequest], Any]]] = {
        "method": lambda r: r.method,
        "path": lambda r: r.path,
        "uri": lambda r: r.request.uri,
        "status": lambda r: r.status_code,
        "duration_ms": lambda r: r.duration_ms,
        "tunnel": lambda r: r.tunnel_name,
        "remote_addr": lambda r: r.remote_addr,
        "id": lambda r: r.id,
    }

    def field(self, name: str) -> Any:
        return self._GETTERS[name](self.req)

    def header(self, side: str, name: str) -> str | None:
        msg = self._msg(side)
        return None if msg is None else msg.header(name)

    def json(self, side: str) -> Any:
        msg = self._msg(side)
        if msg is None or not msg.body.is_json:
            return None
        return msg.body.json

    def body(self, side: str) -> str | None:
        msg = self._msg(side)
        return None if msg is None else msg.body.text


class RecordSource:
    """Reads fields from a JSON record (``CapturedRequest.to_dict()`` or a saved one)."""

    _KEYS: ClassVar[dict[str, str]] = {"status": "status_code"}

    def __init__(self, record: Mapping[str, Any]) -> None:
        self.record = record

    def _msg(self, side: str) -> Mapping[str, Any] | None:
        msg = self.record.get("request" if side == "req" else "response")
        return msg if isinstance(msg, Mapping) else None

    def field(self, name: str) -> Any:
        return self.record.get(self._KEYS.get(name, name))

    def header(self, side: str, name: str) -> str | None:
        msg = self._msg(side)
        headers = msg.get("headers") if msg else None
        if not isinstance(headers, Mapping):
            return None
        low = name.lower()
        for key, values in headers.items():
            if str(key).lower() == low:
                if isinstance(values, list):
                    return str(values[0]) if values else None
                return str(values)
        return None

    def _body(self, side: str) -> Mapping[str, Any] | None:
        msg = self._msg(side)
        body = msg.get("body") if msg else None
        return body if isinstance(body, Mapping) else None

    def json(self, side: str) -> Any:
        body = self._body(side)
        return None if body is None else body.get("json")

    def body(self, side: str) -> str | None:
        body = self._body(side)
        text = None if body is None else body.get("text")
        return text if isinstance(text, str) else None


# --------------------------------------------------------------------------- public


class Expression:
    """A parsed ``--where`` expression; evaluate it on a request or on a JSON record."""

    def __init__(self, source: str, root: Node) -> None:
        self.source = source
        self.root = root

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def evaluate(self, req: CapturedRequest) -> bool:
        """True when ``req`` satisfies the expression."""
        return _truthy(self.root.value(RequestSource(req)))

    @property
    def parts(self) -> tuple[Node, ...]:
        """The operands of the top-level ``and`` (the whole expression when it is none)."""
        root = self.root
        return root.operands if isinstance(root, BoolOp) and root.op == "and" else (root,)

    def explain(self, req: CapturedRequest) -> list[str]:
        """Why ``req`` does not satisfy the expression: one line for each false operand of
        its top-level ``and``, with the value each field had (``req.json.ref was
        "refs/heads/dev" (wanted req.json.ref == "refs/heads/main")``); [] when it does.
        Secret headers and JSON fields (the export policy's names) read [REDACTED]."""
        src = RequestSource(req)
        if _truthy(self.root.value(src)):
            return []
        return [_why(part, src) for part in self.parts if not _truthy(part.value(src))]

    def evaluate_record(self, record: Mapping[str, Any]) -> bool:
        """True when the JSON record (the ``--json`` shape) satisfies the expression."""
        return _truthy(self.root.value(RecordSource(record)))

    __call__ = evaluate


def parse_expression(text: str) -> Expression:
    """Parse ``text``; :class:`ExpressionError` (exit 2, with the column) when invalid."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"expression longer than {MAX_EXPRESSION_LENGTH} characters",
            text[:MAX_EXPRESSION_LENGTH],
            MAX_EXPRESSION_LENGTH,
        )
    return Expression(text, _Parser(text).parse())
