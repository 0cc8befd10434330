"""RequestFilter and the flag parsers, on the recorded entries of a real 2.3.41 agent."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ngrok_inspect.errors import ExitCode, UsageError
from ngrok_inspect.expr import ExpressionError
from ngrok_inspect.filters import (
    RequestFilter,
    StatusRange,
    parse_expression,
    parse_header_filter,
    parse_since,
    parse_status,
)
from ngrok_inspect.models import CapturedRequest


@pytest.fixture
def recorded(fixtures_dir: Path) -> list[CapturedRequest]:
    data = json.loads((fixtures_dir / "requests.json").read_text())
    return [CapturedRequest.from_api(d) for d in data["requests"]]


def paths(reqs: list[CapturedRequest]) -> list[str]:
    return [r.request.uri for r in reqs]


# ---------------------------------------------------------------- parsers


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("404", ((404, 404),)),
        ("4xx", ((400, 499),)),
        ("5XX", ((500, 599),)),
        ("500-599", ((500, 599),)),
        ("200 - 204", ((200, 204),)),
        ("404,5xx", ((404, 404), (500, 599))),
        (" 201 , 3xx ,", ((201, 201), (300, 399))),
    ],
)
def test_parse_status(spec: str, expected: tuple[tuple[int, int], ...]) -> None:
    assert parse_status(spec) == tuple(StatusRange(*e) for e in expected)


@pytest.mark.parametrize("spec", ["", ",", "abc", "99", "600", "6xx", "4x", "599-500", "2000", "x"])
def test_parse_status_rejects(spec: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_status(spec)
    assert info.value.exit_code == ExitCode.USAGE
    assert info.value.hint and "4xx" in info.value.hint


def test_status_range_text() -> None:
    assert [str(r) for r in parse_status("404,4xx,500-503")] == ["404", "4xx", "500-503"]
    assert 404 in StatusRange(400, 499)
    assert None not in StatusRange(400, 499)


NOW = datetime(2026, 11, 28, 17, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("spec", "delta"),
    [
        ("10m", timedelta(minutes=10)),
        ("2h", timedelta(hours=2)),
        ("30s", timedelta(seconds=30)),
        ("1d", timedelta(days=1)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1.5h", timedelta(minutes=90)),
        ("10M", timedelta(minutes=10)),
    ],
)
def test_parse_since_ages(spec: str, delta: timedelta) -> None:
    assert parse_since(spec, now=NOW) == NOW - delta


def test_parse_since_iso() -> None:
    assert parse_since("2026-11-28T16:33:06Z") == datetime(
        2026, 11, 28, 16, 33, 6, tzinfo=timezone.utc
    )
    assert parse_since("2026-11-28T16:33:06-08:00").utcoffset() == timedelta(hours=-8)
    naive = parse_since("2026-11-28T16:33:06")
    assert naive.tzinfo is not None  # local time, made aware
    assert naive.replace(tzinfo=None) == datetime(2026, 11, 28, 16, 33, 6)
    assert parse_since("2026-11-28").tzinfo is not None


@pytest.mark.parametrize("spec", ["", "yesterday", "10", "10x", "m10", "2026-13-01", "-5m"])
def test_parse_since_rejects(spec: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_since(spec, now=NOW)
    assert "10m" in (info.value.hint or "")


def test_parse_header_filter() -> None:
    assert parse_header_filter("X-GitHub-Event: push*") == ("X-GitHub-Event", "push*")
    assert parse_header_filter("Accept:application/json") == ("Accept", "application/json")
    assert parse_header_filter("X-Multi") == ("X-Multi", "*")
    assert parse_header_filter("X-Multi:") == ("X-Multi", "*")
    for bad in ["", ": value", "Bad Name: x", "Név: x"]:
        with pytest.raises(UsageError):
            parse_header_filter(bad)


# ---------------------------------------------------------------- matching


def test_empty_filter_keeps_everything(recorded: list[CapturedRequest]) -> None:
    flt = RequestFilter()
    assert flt.is_empty
    assert flt.apply(recorded) == recorded
    assert flt.describe() == "any request"
    assert flt.agent_tunnel_param() is None


def test_method_status_path(recorded: list[CapturedRequest]) -> None:
    assert paths(RequestFilter(methods=("post",)).apply(recorded)) == [
        "/upload",
        "/form",
        "/webhook?source=test",
    ]
    assert paths(RequestFilter(statuses=parse_status("4xx,500")).apply(recorded)) == [
        "/boom",
        "/does-not-exist",
    ]
    assert paths(RequestFilter(statuses=parse_status("204")).apply(recorded)) == ["/items/42"]
    assert paths(RequestFilter(paths=("/items/*", "/gz?p")).apply(recorded)) == [
        "/items/42",
        "/gzip",
    ]
    # globs match the path, not the query string
    assert RequestFilter(paths=("/search",)).apply(recorded)[0].request.uri.startswith("/search?")
    # all criteria together are an AND
    flt = RequestFilter(methods=("GET",), statuses=parse_status("2xx"), paths=("/s*",))
    assert paths(flt.apply(recorded)) == ["/search?q=hello%20world&page=2&tag=a&tag=b"]


def test_errors_and_tunnel(recorded: list[CapturedRequest]) -> None:
    assert paths(RequestFilter(errors=True).apply(recorded)) == ["/boom", "/does-not-exist"]
    assert len(RequestFilter(tunnel="web").apply(recorded)) == len(recorded)
    # the agent matches tunnel names by substring; the filter is exact
    assert RequestFilter(tunnel="eb").apply(recorded) == []
    assert RequestFilter(tunnel="eb").agent_tunnel_param() == "eb"


def test_errors_include_pending(recorded: list[CapturedRequest]) -> None:
    data = dict(recorded[0].data)
    data["response"] = None
    pending = CapturedRequest.from_api(data)
    assert RequestFilter(errors=True).matches(pending)
    assert not RequestFilter(statuses=parse_status("2xx")).matches(pending)


def test_since(recorded: list[CapturedRequest]) -> None:
    starts = sorted(r.start for r in recorded)
    middle = starts[len(starts) // 2]
    kept = RequestFilter(since=middle).apply(recorded)
    assert kept and all(r.start >= middle for r in kept)
    assert len(kept) == sum(1 for s in starts if s >= middle)
    assert RequestFilter(since=starts[-1] + timedelta(seconds=1)).apply(recorded) == []
    # a naive datetime from Python is local time, made aware (no TypeError when comparing)
    naive = RequestFilter(since=datetime(2000, 1, 1))
    assert naive.since is not None and naive.since.tzinfo is not None
    assert len(naive.apply(recorded)) == len(recorded)


def test_headers(recorded: list[CapturedRequest]) -> None:
    # every value of a repeated header is tried; names are case-insensitive
    assert paths(
        RequestFilter(headers=(parse_header_filter("x-multi: sec*"),)).apply(recorded)
    ) == ["/headers"]
    assert RequestFilter(headers=(parse_header_filter("X-Multi: third"),)).apply(recorded) == []
    present = RequestFilter(headers=(parse_header_filter("Cookie"),)).apply(recorded)
    assert paths(present) == ["/headers"]
    both = RequestFilter(
        headers=(parse_header_filter("X-Multi: first"), parse_header_filter("Cookie: c1=*"))
    )
    assert paths(both.apply(recorded)) == ["/headers"]


def test_body_contains(recorded: list[CapturedRequest]) -> None:
    assert paths(RequestFilter(body_contains='"ref":"refs/heads/main"').apply(recorded)) == [
        "/webhook?source=test"
    ]
    # decoded bodies: the gzip response is searched after decompression
    gz = next(r for r in recorded if r.path == "/gzip")
    assert gz.response is not None and gz.response.body.text
    needle = gz.response.body.text[:12]
    assert gz in RequestFilter(body_contains=needle).apply(recorded)
    assert RequestFilter(body_contains="no such text anywhere").apply(recorded) == []


def test_where(recorded: list[CapturedRequest]) -> None:
    flt = RequestFilter(where=parse_expression('req.json.event == "push" and status == 201'))
    assert paths(flt.apply(recorded)) == ["/webhook?source=test"]
    flt = RequestFilter(where=parse_expression("status >= 400 or method == 'DELETE'"))
    assert paths(flt.apply(recorded)) == ["/items/42", "/boom", "/does-not-exist"]
    flt = RequestFilter(where=parse_expression('req.header["x-multi"] == "first"'))
    assert paths(flt.apply(recorded)) == ["/headers"]
    flt = RequestFilter(where=parse_expression('uri ~ "conn=\\d"'))
    assert len(flt.apply(recorded)) == 2


def test_where_on_request_and_record_agree(recorded: list[CapturedRequest]) -> None:
    exprs = [
        "req.json.nested.ok == true",
        "status in [404, 500]",
        'res.header["content-encoding"] == "gzip"',
        'req.body ~ "Jane"',
        "duration_ms >= 0 and tunnel == 'web' and remote_addr != null",
        "res.json != null",
        'uri ~ "[?]" and id ~ "^airt_" and path != uri',
        "method in ['GET', 'HEAD'] and status_code < 300",
    ]
    for text in exprs:
        expr = parse_expression(text)
        assert any(expr.evaluate(r) for r in recorded), text  # each one selects something
        for r in recorded:
            assert expr.evaluate(r) == expr.evaluate_record(r.to_dict()), (text, r.path)


def test_parse_from_python(recorded: list[CapturedRequest]) -> None:
    flt = RequestFilter.parse(
        method="post,get",
        status=["2xx", 404],
        path="/*",
        header="Content-Type: application/json*",
        where="req.json.count == 3",
    )
    assert paths(flt.apply(recorded)) == ["/webhook?source=test"]
    assert "method POST|GET" in flt.describe()
    assert RequestFilter.parse(since="10m").since is not None
    with pytest.raises(ExpressionError):
        RequestFilter.parse(where="status ==")
    with pytest.raises(UsageError):
        RequestFilter.parse(status="7xx")


def test_matches_does_not_decode_bodies_for_plain_flags(
    recorded: list[CapturedRequest],
) -> None:
    # A plain filter must not touch the body: give it entries whose raw bytes are garbage.
    data = dict(recorded[0].data)
    data["request"] = dict(data["request"], raw="!!! not base64 !!!")
    broken = CapturedRequest.from_api(data)
    flt = RequestFilter(methods=(broken.method,), tunnel="web", since=broken.start)
    assert flt.matches(broken)


@pytest.mark.parametrize("pattern", ["/webhook", "/hooks/*", "*webhook*", "?x", "[/]a"])
def test_path_patterns_that_can_match_are_kept(pattern: str) -> None:
    assert RequestFilter.parse(path=pattern).paths == (pattern,)


def test_path_without_a_leading_slash_hints_at_it() -> None:
    with pytest.raises(UsageError) as e:
        RequestFilter.parse(path="webhook")
    assert e.value.exit_code == ExitCode.USAGE
    assert "can never match" in e.value.message
    assert e.value.hint is not None and "--path /webhook" in e.value.hint
