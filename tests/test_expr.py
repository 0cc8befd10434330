"""The --where language: every operator, precedence, null semantics, error columns, fuzzing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ngrok_inspect.errors import ExitCode, UsageError
from ngrok_inspect.expr import ExpressionError, parse_expression

RECORD: dict[str, Any] = {
    "id": "airt_abc",
    "tunnel": "web",
    "remote_addr": "127.0.0.1",
    "start": "2026-11-28T16:33:06+00:00",
    "duration_ms": 12.5,
    "method": "POST",
    "uri": "/webhook?source=test",
    "path": "/webhook",
    "status_code": 201,
    "request": {
        "proto": "HTTP/1.1",
        "headers": {
            "X-Github-Event": ["push", "second"],
            "Content-Length": ["71"],
            "Content-Type": ["application/json"],
        },
        "body": {
            "size": 71,
            "kind": "json",
            "text": '{"event":"push","ref":"refs/heads/main","count":3,"nested":{"ok":true}}',
            "json": {
                "event": "push",
                "ref": "refs/heads/main",
                "count": 3,
                "nested": {"ok": True},
                "items": [{"id": 7}, {"id": 8}],
                "with space": "yes",
                "none": None,
            },
        },
    },
    "response": {
        "proto": "HTTP/1.1",
        "status": "201 Created",
        "status_code": 201,
        "headers": {"Content-Type": ["text/plain"]},
        "body": {"size": 7, "kind": "text", "text": "created", "json": None},
    },
}
PENDING = {**RECORD, "status_code": None, "response": None}


def ev(text: str, record: dict[str, Any] = RECORD) -> bool:
    return parse_expression(text).evaluate_record(record)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # simple fields and every comparison operator
        ("method == 'POST'", True),
        ('method == "GET"', False),
        ("method != 'GET'", True),
        ("status == 201", True),
        ("status_code == 201", True),
        ("status < 300", True),
        ("status < 201", False),
        ("status <= 201", True),
        ("status > 201", False),
        ("status >= 201", True),
        ("duration_ms > 12.4", True),
        ("duration_ms >= 1e1", True),
        ("path == '/webhook'", True),
        ("uri == '/webhook?source=test'", True),
        ("tunnel == 'web'", True),
        ("remote_addr == '127.0.0.1'", True),
        ("id == 'airt_abc'", True),
        ("path > '/a' and path < '/x'", True),  # strings order lexicographically
        # regex
        ("path ~ '^/web'", True),
        ("path ~ 'hook$'", True),
        ("path ~ '^hook'", False),
        ("path !~ '^/api'", True),
        ("uri ~ 'source=\\w+'", True),  # unknown escapes stay: \w reaches the regex
        ("status ~ '^2'", True),  # numbers are searched as text
        ("req.json ~ 'refs/heads'", True),  # JSON values are searched in their JSON text
        # in / not in
        ("method in ['GET', 'POST']", True),
        ("method in ['GET', 'PUT']", False),
        ("status in [200, 201, 204]", True),
        ("status not in [200, 204]", True),
        ("method in []", False),
        ("method in ['POST',]", True),
        # headers: case-insensitive names, first value
        ("req.header['x-github-event'] == 'push'", True),
        ('req.header["X-GITHUB-EVENT"] == "push"', True),
        ("req.header['x-github-event'] == 'second'", False),
        ("req.headers['content-length'] > 70", True),  # numeric string vs number
        ("req.header['content-length'] == 71", True),
        ("req.header['x-missing'] == null", True),
        ("req.header.x-github-event == 'push'", True),  # dotted form, dashes allowed
        ("req.headers.Content-Length > 70 and method == 'POST'", True),
        ("res.header.content-type ~ '^text/'", True),
        ("res.header['content-type'] ~ '^text/'", True),
        # JSON paths
        ("req.json.event == 'push'", True),
        ("req.json.count == 3", True),
        ("req.json.count == 3.0", True),
        ("req.json.count == '3'", True),
        ("req.json.nested.ok == true", True),
        ("req.json.nested.ok", True),
        ("req.json.items[1].id == 8", True),
        ("req.json.items.0.id == 7", True),
        ("req.json.items[-1].id == 8", True),
        ("req.json.items[5].id == null", True),
        ("req.json['with space'] == 'yes'", True),
        ("req.json.none == null", True),
        ("req.json.nope == null", True),
        ("req.json.event.deeper == null", True),
        ("res.json == null", True),  # not a JSON body
        # bodies
        ("req.body ~ '\"count\":3'", True),
        ("res.body == 'created'", True),
        # booleans and literals
        ("true", True),
        ("false", False),
        ("null", False),
        ("req.json.nested.ok == 1", False),  # bool is not a number
        ("TRUE and True", True),
        # boolean operators and aliases
        ("status == 201 and method == 'POST'", True),
        ("status == 500 or method == 'POST'", True),
        ("status == 500 || method == 'GET'", False),
        ("status == 201 && !(method == 'GET')", True),
        ("not status == 500", True),
        ("not not true", True),
    ],
)
def test_operators(text: str, expected: bool) -> None:
    assert ev(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # and binds tighter than or
        ("true or false and false", True),
        ("(true or false) and false", False),
        ("false and false or true", True),
        ("false and (false or true)", False),
        # not binds tighter than and/or, looser than comparison
        ("not false and false", False),
        ("not (false and false)", True),
        ("not status == 500 and method == 'POST'", True),
        ("not status == 201 or method == 'POST'", True),
        ("not status == 201 or method == 'GET'", False),
    ],
)
def test_precedence(text: str, expected: bool) -> None:
    assert ev(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status == null", True),
        ("status != null", False),
        ("status != 200", False),  # comparisons with a missing value are false
        ("status == 200", False),
        ("status < 500", False),
        ("status >= 0", False),
        ("status in [200, 404]", False),
        ("status not in [200, 404]", False),
        ("status in [null]", True),
        ("res.header['content-type'] ~ '.'", False),
        ("res.header['content-type'] !~ '.'", False),
        ("res.body == null", True),
        ("res.json.a == null", True),
        ("not res.json.a", True),
        ("null == null", True),
        ("null != null", False),
        ("req.json.event != null", True),
    ],
)
def test_null_semantics_on_a_pending_request(text: str, expected: bool) -> None:
    assert ev(text, PENDING) is expected


@pytest.mark.parametrize(
    ("text", "column", "reason"),
    [
        ("status ==", 10, "expected a value"),
        ("status == 1 == 2", 13, "cannot be chained"),
        ("(status == 1", 13, "expected ')'"),
        ("status == 1)", 12, "unbalanced"),
        ("foo == 1", 1, "unknown field 'foo'"),
        ("status == 1 and bogus", 17, "unknown field 'bogus'"),
        ("path ~ '('", 8, "invalid regular expression"),
        ("path ~ status", 8, "regular expression in quotes"),
        ("method == 'abc", 11, "unterminated string"),
        ("status @ 1", 8, "unexpected character '@'"),
        ("req.json.ref = 'main'", 14, "use '==' to compare"),
        ("req.header[1] == 'a'", 12, "header name in quotes"),
        ("req.header. == 'a'", 13, "expected a header name after 'header.'"),
        ("req.header == 'a'", 12, "expected '[' or '.' after 'header'"),
        ("req.cookie == 1", 5, "expected 'header', 'json' or 'body'"),
        ("req == 1", 5, "expected '.'"),
        ("method in 'GET'", 11, "expected '['"),
        ("method in [path]", 12, "expected a literal"),
        ("method in ['a' 'b']", 16, "',' or ']'"),
        ("req.json.a.1.5 == 1", 12, "expected a key name"),
        ("req.json[1.5] == 1", 10, "quoted key or an integer"),
        ("", 1, "empty expression"),
        ("   ", 4, "empty expression"),
        ("status == 1 status", 13, "expected 'and', 'or'"),
        ("and", 1, "expected a field or a value"),
        ("duration_ms > 1e999", 15, "number out of range"),
    ],
)
def test_syntax_errors_point_at_the_column(text: str, column: int, reason: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expression(text)
    err = info.value
    assert err.column == column, str(err)
    assert reason in err.reason
    assert isinstance(err, UsageError)
    assert err.exit_code == ExitCode.USAGE
    # the message shows the expression and a caret under the offending column
    lines = err.message.splitlines()
    assert lines[0].startswith("invalid --where expression:")
    assert f"(column {column})" in lines[0]
    if len(text) < 60:
        assert lines[1] == "  " + text
        assert lines[2] == "  " + " " * (column - 1) + "^"
    assert err.hint


def test_long_expression_is_refused_without_work() -> None:
    with pytest.raises(ExpressionError, match="longer than"):
        parse_expression("status == 1 or " * 1000 + "true")


def test_deep_nesting_is_a_syntax_error_not_a_recursion_error() -> None:
    with pytest.raises(ExpressionError, match="nested deeper"):
        parse_expression("(" * 500 + "true" + ")" * 500)
    with pytest.raises(ExpressionError, match="nested deeper"):
        parse_expression("not " * 500 + "true")
    assert ev("(" * 10 + "true" + ")" * 10) is True


def test_caret_window_on_long_expressions() -> None:
    text = "method == 'GET' and " * 10 + "status == )"
    with pytest.raises(ExpressionError) as info:
        parse_expression(text)
    caret_line = info.value.message.splitlines()[2]
    shown_line = info.value.message.splitlines()[1]
    assert shown_line[caret_line.index("^")] == ")"


def test_nothing_executable_is_reachable() -> None:
    # Python-looking input is just an unknown field or a syntax error, never evaluated.
    for text in [
        "__import__('os').system('true')",
        "req.__class__ == 1",
        "method.__class__ == 1",
        "req.json.__class__ == 'dict'",
        "open('/etc/passwd')",
        "lambda: 1",
    ]:
        try:
            expr = parse_expression(text)
        except ExpressionError:
            continue
        # parsed: must be a data-only lookup (JSON key named like a dunder)
        assert expr.evaluate_record(RECORD) is False


def test_expression_repr_and_source() -> None:
    e = parse_expression("status == 1")
    assert e.source == "status == 1"
    assert "status == 1" in repr(e)


_ALPHABET = st.sampled_from(
    [
        *"()[]\"'.,~!=<>&|-0123456789 \\\t\n",
        *("status", "method", "req", "res", "json", "header", "body", "and", "or", "not"),
        *("in", "null", "true", "'a'", '"x"', "==", "!=", "<=", "~", "path", "a", "é", "\x00"),
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_ALPHABET, max_size=30).map(" ".join) | st.text(max_size=80))
def test_fuzz_only_expression_error_or_bool(text: str) -> None:
    try:
        expr = parse_expression(text)
    except ExpressionError as exc:
        assert 1 <= exc.column <= len(text) + 1
        return
    assert expr.evaluate_record(RECORD) in (True, False)
    assert expr.evaluate_record(PENDING) in (True, False)
    assert expr.evaluate_record({}) in (True, False)


@settings(max_examples=200, deadline=None)
@given(st.lists(_ALPHABET, max_size=25).map(" ".join))
def test_fuzz_on_real_captures(text: str) -> None:
    import json as _json
    from pathlib import Path

    from ngrok_inspect.models import CapturedRequest

    path = Path(__file__).parent / "fixtures" / "agent-2.3.41" / "requests.json"
    reqs = [CapturedRequest.from_api(d) for d in _json.loads(path.read_text())["requests"]]
    try:
        expr = parse_expression(text)
    except ExpressionError:
        return
    for r in reqs:
        assert expr.evaluate(r) in (True, False)
