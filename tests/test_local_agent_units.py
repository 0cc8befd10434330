"""Pieces of the local agent that need no server: ids, metrics, sizes, config files."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ngrok_inspect.errors import ConfigError, UsageError
from ngrok_inspect.local_agent.addresses import is_loopback, normalize_upstream, parse_hostport
from ngrok_inspect.local_agent.config import load_agent_config, parse_size
from ngrok_inspect.local_agent.ksuid import ksuid, ksuid_time, request_id
from ngrok_inspect.local_agent.metrics import Histogram, Meter
from ngrok_inspect.local_agent.store import Entry, Message, Store, canonical_header


def test_ksuid_matches_the_recorded_id_layout() -> None:
    # the recorded webhook id was made at 2026-11-28T16:33:06Z
    assert ksuid_time("airt_3Mk9EWvh4uwMcxTZaEvgQPZWnfM") == 1795883586
    now = time.time()
    rid = request_id(now)
    assert rid.startswith("airt_") and len(rid) == 32
    assert ksuid_time(rid) == int(now)
    same_second = [ksuid(now) for _ in range(500)]
    assert same_second == sorted(same_second)  # creation order within one second
    assert len(set(same_second)) == 500


def test_histogram_percentiles_follow_go_metrics() -> None:
    h = Histogram()
    assert h.percentiles() == {"p50": 0, "p90": 0, "p95": 0, "p99": 0}
    for v in (10, 20, 30, 40):
        h.update(v)
    # go-metrics: pos = p * (n + 1), interpolated
    assert h.percentiles() == {"p50": 25, "p90": 40, "p95": 40, "p99": 40}
    h2 = Histogram()
    for v in range(1, 11):
        h2.update(v)
    assert h2.percentiles()["p90"] == 9.9


def test_meter_rates_tick_every_five_seconds() -> None:
    now = [0.0]
    m = Meter(clock=lambda: now[0])
    for _ in range(10):
        m.mark()
    assert m.rates() == (0.0, 0.0, 0.0)
    now[0] = 5.0
    assert m.rates() == (2.0, 2.0, 2.0)  # 10 events in the first 5 s tick
    now[0] = 65.0
    r1, r5, r15 = m.rates()
    assert r1 < r5 < r15 < 2.0 and m.count == 10


def test_canonical_header_names_as_go() -> None:
    assert canonical_header("content-type") == "Content-Type"
    assert canonical_header("x-forwarded-for") == "X-Forwarded-For"
    assert canonical_header("WWW-AUTHENTICATE") == "Www-Authenticate"
    assert canonical_header("host") == "Host"
    assert canonical_header("bad name") == "bad name"


def test_store_accounts_bytes_and_keeps_the_newest() -> None:
    def entry(i: int) -> Entry:
        msg = Message(b"GET / HTTP/1.1\r\n\r\n")
        msg.add_body(b"x" * 800, limit=10_000)
        return Entry(f"airt_{i}", "t", "127.0.0.1", 0.0, "GET", "/", "HTTP/1.1", msg)

    budget = entry(0).size * 7 // 2  # room for three and a half entries
    store = Store(max_bytes=budget)
    for i in range(5):
        store.add(entry(i))
    assert [e.id for e in store.newest_first(100)] == ["airt_4", "airt_3", "airt_2"]
    assert store.total <= budget
    assert store.newest_first(-1) == []
    store.clear()
    assert len(store) == 0 and store.total == 0


def test_chunked_capture_rebuilds_and_shows_truncation() -> None:
    m = Message(b"H\r\n\r\n", chunked=True)
    m.add_body(b"hel", 100, False)
    m.add_body(b"lo", 100, True)
    m.add_body(b"abc", 100, True)
    m.complete = True
    assert m.raw() == b"H\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n"
    cut = Message(b"H\r\n\r\n", chunked=True)
    cut.add_body(b"hello", 3, True)
    cut.add_body(b"more", 3, True)
    cut.complete = True
    assert cut.raw() == b"H\r\n\r\n5\r\nhel"  # the chunk size says more than was kept


@pytest.mark.parametrize(
    ("text", "size"),
    [("1000", 1000), ("10MiB", 10 * 1024**2), ("50MB", 50_000_000), ("512k", 512_000), (7, 7)],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_parse_size_rejects_nonsense() -> None:
    with pytest.raises(UsageError):
        parse_size("lots")


def test_addresses_and_upstreams() -> None:
    assert parse_hostport("4040") == ("127.0.0.1", 4040)
    assert parse_hostport("[::1]:4041") == ("::1", 4041)
    assert parse_hostport("0.0.0.0:80") == ("0.0.0.0", 80)
    assert normalize_upstream("8000") == ("http://127.0.0.1:8000", "http://localhost:8000")
    assert normalize_upstream("localhost:3000")[1] == "http://localhost:3000"
    assert normalize_upstream("https://10.0.0.5:8443/") == (
        "https://10.0.0.5:8443",
        "https://10.0.0.5:8443",
    )
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")


def test_v2_and_v3_config(tmp_path: Path) -> None:
    v2 = tmp_path / "a.yml"
    v2.write_text(
        'version: "2"\nweb_addr: localhost:4050\ninspect_db_size: 1000000\ntunnels:\n'
        "  web:\n    proto: http\n    addr: 8000\n"
        "  hidden:\n    proto: http\n    addr: 8001\n    inspect: false\n"
        "  db:\n    proto: tcp\n    addr: 5432\n",
        encoding="utf-8",
    )
    v3 = tmp_path / "b.yml"
    v3.write_text(
        'version: "3"\nagent:\n  web_addr: 127.0.0.1:4060\nendpoints:\n'
        "  - name: site\n    url: https://x.example\n    upstream:\n      url: 9000\n"
        "  - name: raw\n    url: tcp://1.tcp.ngrok.io:1234\n    upstream:\n      url: 22\n",
        encoding="utf-8",
    )
    cfg = load_agent_config([v2, v3])
    assert [(t.name, t.addr, t.inspect) for t in cfg.tunnels] == [
        ("web", "8000", True),
        ("hidden", "8001", False),
        ("site", "9000", True),
    ]
    assert cfg.skipped == ["db (tcp)", "raw (tcp)"]
    assert cfg.web_addr == "127.0.0.1:4060"  # later file wins
    assert cfg.inspect_db_size == 1_000_000


@pytest.mark.parametrize(
    "text",
    ['version: "2"\ntunnels: [a]\n', 'version: "2"\ntunnels:\n  a:\n    proto: http\n', "- 1\n"],
)
def test_bad_config_is_a_config_error(tmp_path: Path, text: str) -> None:
    p = tmp_path / "ngrok.yml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError):
        load_agent_config([p])
