"""What the client got is what is recorded: a streamed answer that breaks off mid-body.

The status already went out, so the agent cuts the client's connection; the record keeps
the status, its body is ``truncated``, and it carries an ``error`` that ``requests list
--errors``, ``stats`` and the agent's console line count.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ngrok_inspect.archive.source import ArchiveSource
from ngrok_inspect.archive.store import ArchiveWriter
from ngrok_inspect.filters import RequestFilter
from ngrok_inspect.local_agent import LocalAgent
from ngrok_inspect.models import CapturedRequest
from ngrok_inspect.stats import compute_stats
from tests.cli_invoke import invoke
from tests.support.raw_upstream import Cut, RecordingUpstream, ok

LENGTH = 1_000_000  # above the size the agent buffers: the answer is streamed
PASSED = 100_000


def broken_answer(i: int, seen: Any) -> bytes | Cut:
    if seen.request_line.startswith(b"GET /fine"):
        return ok(b"fine")
    if seen.request_line.startswith(b"GET /chunked"):
        return Cut(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"%x\r\n" % PASSED
            + b"c" * PASSED
            + b"\r\n"
        )
    return Cut(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % LENGTH + b"x" * PASSED)


@pytest.fixture
def agent() -> Iterator[tuple[LocalAgent, list[dict[str, Any]]]]:
    up = RecordingUpstream(broken_answer)
    lines: list[dict[str, Any]] = []
    try:
        with LocalAgent(up.url, on_request=lines.append) as agent:
            yield agent, lines
    finally:
        up.close()


def fetch_cut(url: str) -> None:
    with pytest.raises(
        (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)
    ):
        requests.get(url, timeout=30).raise_for_status()


def records(agent: LocalAgent) -> list[CapturedRequest]:
    data = requests.get(agent.api_url + "/api/requests/http", timeout=10).json()
    return [CapturedRequest.from_api(e) for e in data["requests"]]


@pytest.mark.parametrize("path", ["/length", "/chunked"])
def test_a_streamed_answer_cut_upstream_is_cut_for_the_client_and_recorded_as_error(
    agent: tuple[LocalAgent, list[dict[str, Any]]], path: str
) -> None:
    local, lines = agent
    fetch_cut(local.public_url + path)
    [rec] = records(local)
    assert rec.status_code == 200  # the status the client got
    assert rec.response is not None and rec.response.body.truncated
    assert rec.error is not None and "broke off after 100000" in rec.error
    if path == "/length":
        assert f"100000 of {LENGTH} body bytes" in rec.error
    assert rec.is_error
    assert rec.to_dict()["error"] == rec.error  # in the JSON record
    assert RequestFilter(errors=True).matches(rec)
    assert compute_stats([rec]).error_count == 1
    [summary] = lines  # the console line's summary carries it too
    assert summary["error"] == rec.error


def test_a_complete_streamed_answer_has_no_error(
    agent: tuple[LocalAgent, list[dict[str, Any]]],
) -> None:
    local, lines = agent
    assert requests.get(local.public_url + "/fine", timeout=10).text == "fine"
    [rec] = records(local)
    assert rec.error is None and not rec.is_error
    assert "error" not in rec.data  # the agent's JSON stays the real agent's shape
    assert rec.to_dict()["error"] is None
    assert lines[0]["error"] is None


def test_requests_list_errors_and_stats_count_the_cut_answer(
    agent: tuple[LocalAgent, list[dict[str, Any]]],
) -> None:
    local, _ = agent
    requests.get(local.public_url + "/fine", timeout=10)
    fetch_cut(local.public_url + "/length")
    listed = invoke(["--api-url", local.api_url, "requests", "list", "--errors", "--json"])
    assert listed.exit_code == 0, listed.stderr
    [only] = json.loads(listed.stdout)
    assert only["path"] == "/length" and only["status_code"] == 200
    assert "broke off" in only["error"]
    assert only["response"]["body"]["truncated"] is True
    stats = invoke(["--api-url", local.api_url, "stats", "--json"])
    assert stats.exit_code == 0, stats.stderr
    assert json.loads(stats.stdout)["errors"]["count"] == 1


def test_the_archive_counts_the_cut_answer_as_an_error_too(
    agent: tuple[LocalAgent, list[dict[str, Any]]], tmp_path: Path
) -> None:
    local, _ = agent
    requests.get(local.public_url + "/fine", timeout=10)
    fetch_cut(local.public_url + "/length")
    db = tmp_path / "traffic.db"
    writer = ArchiveWriter(db)
    try:
        assert writer.add(records(local), "test") == 2
    finally:
        writer.close()
    source = ArchiveSource(db)
    try:
        [cut] = source.query(RequestFilter(errors=True))
        assert cut.path == "/length" and cut.status_code == 200
        assert cut.error is not None and "broke off" in cut.error
        assert len(source.query(RequestFilter())) == 2
    finally:
        source.close()


def test_requests_show_says_why_the_answer_is_short(
    agent: tuple[LocalAgent, list[dict[str, Any]]],
) -> None:
    local, _ = agent
    fetch_cut(local.public_url + "/length")
    shown = invoke(["--api-url", local.api_url, "requests", "show", "last"])
    assert shown.exit_code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[1].startswith("Status:") and "200 OK" in lines[1]
    assert lines[2] == f"Error:    the upstream broke off after 100000 of {LENGTH} body bytes"


def test_a_client_that_leaves_stops_the_upstream_exchange() -> None:
    """A public connection that closes never keeps its upstream connection (nor its
    descriptor) until the upstream timeout: the agent closes it at once."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    asked = threading.Event()
    dropped = threading.Event()

    def slow_upstream() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            asked.set()
            while conn.recv(65536):  # never answers; returns b"" when the agent hangs up
                pass
            dropped.set()

    threading.Thread(target=slow_upstream, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        with LocalAgent(url, upstream_timeout=300.0) as local:
            host, port = local.public_url.split("//")[1].rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=30) as s:
                s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
                assert asked.wait(30)
            assert dropped.wait(30)  # far sooner than the 300 s upstream timeout
            [rec] = records(local)
            assert rec.response is None
            assert rec.error == "the client closed the connection before the answer came"
    finally:
        listener.close()
