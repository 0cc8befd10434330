"""``ngrok-inspect import``: HAR files written by real browsers and tools, hand-made quirks,
broken entries, and this tool's own exports round-tripped through an archive."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ngrok_inspect.archive import ArchiveSource
from ngrok_inspect.archive.importing import import_file
from ngrok_inspect.models import CapturedRequest
from tests.cli_invoke import invoke
from tests.support.live import send_traffic

HAR = Path(__file__).parent / "fixtures" / "har"


def _import(path: Path | str, db: Path, *extra: str) -> Any:
    r = invoke(["import", str(path), "--db", str(db), "--json", *extra])
    return r, (json.loads(r.stdout) if r.exit_code == 0 else None)


def _all(db: Path) -> dict[str, CapturedRequest]:
    with ArchiveSource(db) as src:
        return {r.request.uri: r for r in src.list_requests()}


def _strip_ids(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def content(resp: dict[str, Any]) -> dict[str, Any]:
        # the export's note on a body left out is about the first export's capture
        c = {k: v for k, v in resp.get("content", {}).items() if k != "comment"}
        return {**resp, "content": c}

    return [
        {
            k: (content(v) if k == "response" else v)
            for k, v in e.items()
            if k not in ("_id", "comment")
        }
        for e in entries
    ]


def _har_urls(db: Path, *filters: str) -> list[str]:
    r = invoke(["export", "--format", "har", "--db", str(db), *filters])
    assert r.exit_code == 0, r.stderr
    return [e["request"]["url"] for e in json.loads(r.stdout)["log"]["entries"]]


# --- real files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("humanssuck.net.har", 4),  # haralyzer: Firebug/Firefox 25, HAR 1.1
        ("single_entry.har", 1),  # haralyzer: a bare entry, not a log
        ("cnn-chrome-head.har", 2),  # haralyzer: chrome-har-capturer
        ("chrome-h2-postdata.har", 1),  # mitmproxy: Chrome DevTools, HTTP/2
        ("fiddler-with-bom.har", 1),  # mitmproxy: Fiddler, UTF-8 BOM
        ("insomnia.har", 1),
        ("charles.har", 1),
        ("head-content-length.har", 1),  # mitmproxy: Firefox, HEAD over HTTP/2
        ("mitmproxy-invalid-content-encoding.har", 1),
        ("safari-webkit.org.har", 4),  # WebKit: Safari 13's Web Inspector
    ],
)
def test_real_har_files_import(tmp_path: Path, name: str, stored: int) -> None:
    db = tmp_path / "a.sqlite"
    r, summary = _import(HAR / name, db)
    assert r.exit_code == 0, r.stderr
    assert summary["format"] == "har" and summary["stored"] == stored, summary
    assert summary["skipped"] == []
    # every reading command works on what was imported
    listed = invoke(["requests", "list", "--json", "--db", str(db)])
    assert listed.exit_code == 0 and len(json.loads(listed.stdout)) == stored
    assert invoke(["stats", "--json", "--db", str(db)]).exit_code == 0
    for req in _all(db).values():
        assert req.id.startswith("airt_") and len(req.id) == 32
        shown = invoke(["requests", "show", req.id, "--raw", "--db", str(db)])
        assert shown.exit_code == 0 and shown.stdout_bytes.startswith(req.method.encode())
    # the source column names the format and the file
    conn = sqlite3.connect(db)
    sources = {row[0] for row in conn.execute("SELECT source FROM captures")}
    assert sources == {f"har:{(HAR / name).resolve()}"}


def test_firefox_gzip_chunked_body_is_rebuilt(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    _import(HAR / "humanssuck.net.har", db)
    page = _all(db)["/"]
    text = json.loads((HAR / "humanssuck.net.har").read_text())["log"]["entries"][0]
    assert page.response is not None
    # HAR keeps the body decoded; the raw response is gzip again, framed as chunked
    assert page.response.body.encoding == "gzip"
    assert page.response.body.text == text["response"]["content"]["text"]
    assert not page.response.body.truncated
    assert b"Transfer-Encoding: chunked\r\n" in page.response.raw
    assert page.response.raw.endswith(b"\r\n0\r\n\r\n")
    # gzip at the level that reproduces the browser's recorded wire size
    assert page.duration_ms == 153 and page.start.utcoffset() is not None
    # an image whose body the HAR did not keep: headers as sent, the body missing
    gif = _all(db)["/screen_login.gif"]
    assert gif.response is not None and gif.response.header("Content-Length") == "23591"
    assert gif.response.body.data == b"" and gif.response.body.truncated


def test_safari_web_inspector_har(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    src = json.loads((HAR / "safari-webkit.org.har").read_text())
    assert src["log"]["creator"]["name"] == "WebKit Web Inspector"
    _import(HAR / "safari-webkit.org.har", db)
    got = _all(db)
    page = got["/"]
    # the headers as Safari listed them: Cookie first, Host in the middle
    names = [k for k, _ in page.request.header_lines]
    assert names[:5] == ["Cookie", "Accept", "Pragma", "Cache-Control", "Host"]
    assert page.request.raw.startswith(b"GET / HTTP/1.1\r\nCookie: wordpress_test_cookie=")
    # Safari keeps the gzip body decoded: gzip again on the wire, the same text read back
    assert page.response is not None and page.response.body.encoding == "gzip"
    text = src["log"]["entries"][0]["response"]["content"]["text"]
    assert page.response.body.text == text
    assert page.response.header("Content-Length") == str(len(page.response.body.wire))
    assert page.response.body.wire.startswith(b"\x1f\x8b")
    # a body kept whole: byte for byte, and Safari's Content-Length agrees with it
    svg = got["/wp-content/themes/webkit/images/menu-down.svg"]
    assert svg.response is not None and len(svg.response.body.data) == 324
    assert svg.response.header("Content-Length") == "324"
    assert "© 2015 Apple" in (svg.response.body.text or "")
    fonts = got["/wss/fonts?families=SF+Pro,v1"]
    assert fonts.tunnel_name == "www.apple.com" and round(fonts.duration_ms, 3) == 6.962
    assert _har_urls(db, "--path", "/wss/fonts") == [
        "https://www.apple.com/wss/fonts?families=SF+Pro,v1"
    ]


REAL = [
    "humanssuck.net.har",
    "single_entry.har",
    "cnn-chrome-head.har",
    "chrome-h2-postdata.har",
    "fiddler-with-bom.har",
    "insomnia.har",
    "charles.har",
    "head-content-length.har",
    "mitmproxy-invalid-content-encoding.har",
    "safari-webkit.org.har",
    "quirks.har",
]


@pytest.mark.parametrize("name", REAL)
def test_real_har_round_trips_through_the_archive(tmp_path: Path, name: str) -> None:
    """What a browser wrote, imported and exported again, is a HAR that imports to the same
    entries: export -> import -> export is a fixed point."""
    first_db, second_db = tmp_path / "1.sqlite", tmp_path / "2.sqlite"
    _import(HAR / name, first_db)
    first = invoke(["export", "--format", "har", "--no-redact", "--db", str(first_db)])
    assert first.exit_code == 0, first.stderr
    exported = tmp_path / "first.har"
    exported.write_bytes(first.stdout_bytes)
    r, summary = _import(exported, second_db)
    assert summary["skipped"] == [], r.stderr
    second = invoke(["export", "--format", "har", "--no-redact", "--db", str(second_db)])
    a = json.loads(first.stdout)["log"]["entries"]
    b = json.loads(second.stdout)["log"]["entries"]
    assert a and _strip_ids(b) == _strip_ids(a)


def test_importing_a_file_again_adds_nothing(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    _import(HAR / "single_entry.har", db)
    r, summary = _import(HAR / "single_entry.har", db)
    assert (summary["stored"], summary["duplicates"]) == (0, 1), r.stderr
    assert "1 already there" in r.stderr


def test_chrome_http2_pseudo_headers_and_https(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    _import(HAR / "chrome-h2-postdata.har", db)
    req = _all(db)["/metrics"]
    names = [k for k, _ in req.request.header_lines]
    assert not [n for n in names if n.startswith(":")]
    assert req.request.header("Host") == "signal-metrics-collector-beta.s-onetag.com"
    assert req.request.proto == "HTTP/2.0"
    assert len(req.request.body.data) == 1310 and req.request.body.json is not None
    assert req.tunnel_name == "signal-metrics-collector-beta.s-onetag.com"
    assert _har_urls(db) == ["https://signal-metrics-collector-beta.s-onetag.com/metrics"]


def test_chrome_newline_joined_set_cookie_becomes_two_headers(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    _import(HAR / "cnn-chrome-head.har", db)
    with ArchiveSource(db) as src:
        reqs = list(reversed(src.list_requests()))
    assert [r.status_code for r in reqs] == [301, 302]
    first = reqs[0].response
    assert first is not None
    assert first.header_values("Set-Cookie") == [
        "countryCode=BG; Domain=.cnn.com; Path=/",
        "geoData=plovdiv|16|4000|BG|EU; Domain=.cnn.com; Path=/",
    ]
    assert reqs[0].request.proto == "HTTP/1.1"  # Chrome writes 'http/1.1'


def test_head_answer_keeps_its_content_length(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    _import(HAR / "head-content-length.har", db)
    (req,) = _all(db).values()
    assert req.method == "HEAD" and req.response is not None
    assert req.response.header("content-length") == "78258"  # what GET would send
    assert req.request.header("Host") == "files.pythonhosted.org"  # from the URL


def test_bom_insomnia_charles_and_an_unknown_content_encoding(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    assert (HAR / "fiddler-with-bom.har").read_bytes().startswith(b"\xef\xbb\xbf")
    for name in ("fiddler-with-bom.har", "insomnia.har", "charles.har"):
        _import(HAR / name, db)
    _import(HAR / "mitmproxy-invalid-content-encoding.har", db)
    got = _all(db)
    assert got["/"].request.header("Host") in ("www.example.com", "mitm.it")
    assert "/?=" in got  # Charles: an empty query parameter, kept as sent
    # oldest first; Charles' https URL keeps its scheme (no header carries it)
    assert _har_urls(db, "--path", "/") == [
        "https://mitmproxy.org/?=",
        "http://mitm.it/",
        "http://www.example.com/",
    ]
    icloud = next(r for u, r in got.items() if u.startswith("/fmipservice/"))
    assert icloud.status_code == 401 and icloud.response is not None
    assert icloud.response.header("content-encoding") == "UTF-8"


def test_hand_made_quirks(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    r, summary = _import(HAR / "quirks.har", db)
    assert r.exit_code == 0, r.stderr
    assert (summary["stored"], summary["no_response"], summary["skipped"]) == (6, 1, [])
    assert "1 without a response" in r.stderr
    got = _all(db)
    png = got["/logo.png?v=3"]
    assert png.response is not None and png.response.body.data.startswith(b"\x89PNG")
    assert png.response.header("Content-Length") == str(len(png.response.body.data))
    ff = got["/api/items"]
    assert ff.request.header("Host") == "ff.example.test"
    assert ff.response is not None and ff.response.body.json == {"items": [1, 2, 3], "n": 3}
    assert ff.response.body.encoding == "gzip" and ff.duration_ms == 3
    # the headers map says what the raw message says (Content-Length added for HTTP/1.1)
    assert ff.response.headers["Content-Length"] == [ff.response.header_lines[-1][1]]
    safari = got["/caf%C3%A9?q=%C3%BC"]  # non-ASCII percent-encoded, fragment dropped
    assert safari.status_code == 404 and safari.duration_ms == 0
    assert safari.request.proto == "HTTP/1.1"
    form = got["/submit"]
    assert form.request.body.form == [("name", "Jane Doe"), ("note", "a&b=c")]
    blob = got["/blob"]
    assert blob.request.body.data == bytes(range(256))
    login = got["/login"]
    assert login.request.header("Host") == "cookies.example.test"  # never user:secret
    assert b"secret" not in login.request.raw
    assert login.response is not None
    assert login.response.header_values("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/; HttpOnly"]
    # a CR/LF inside a value cannot add a header of another name
    assert login.response.header_values("X-Note") == ["first", "Injected: yes"]
    assert login.response.header("Injected") is None
    assert login.response.body.text == "hello"


# --- broken input -------------------------------------------------------------------------


def test_broken_entries_are_skipped_with_reasons(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    r, summary = _import(HAR / "broken.har", db)
    assert r.exit_code == 0, r.stderr
    assert (summary["entries"], summary["stored"], len(summary["skipped"])) == (11, 1, 10)
    reasons = {s["entry"]: s["reason"] for s in summary["skipped"]}
    assert reasons[1] == "is a str, not an object"
    assert "request.url is missing" in reasons[3]
    assert "not an absolute http(s) URL" in reasons[4]
    assert "not an ISO 8601 time" in reasons[5]
    assert "not valid base64" in reasons[6]
    assert "not a token" in reasons[8] and "'Bad Name' is not a token" in reasons[9]
    assert "status" in reasons[11]
    # on stderr: the count and the first reasons, one line each
    plain = invoke(["import", str(HAR / "broken.har"), "--db", str(tmp_path / "b.sqlite")])
    assert plain.stdout == ""
    assert "1 new, 10 skipped" in plain.stderr
    assert "skipped entry 1: is a str, not an object" in plain.stderr
    assert "and 7 more" in plain.stderr


def test_strict_refuses_and_stores_nothing(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    _import(HAR / "quirks.har", db)
    before = sqlite3.connect(db).execute("SELECT count(*) FROM captures").fetchone()[0]
    r = invoke(["import", str(HAR / "broken.har"), "--db", str(db), "--strict"])
    assert (r.exit_code, r.stdout) == (6, "")
    assert r.stderr.startswith("Error: 10 of 11 entries") and "Nothing was stored" in r.stderr
    after = sqlite3.connect(db).execute("SELECT count(*) FROM captures").fetchone()[0]
    assert after == before
    ok = invoke(["import", str(HAR / "quirks.har"), "--db", str(db), "--strict"])
    assert ok.exit_code == 0, ok.stderr  # no broken entry: strict imports (0 new)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"<html>not json</html>", "is not JSON (line 1, column 1"),
        (b'{"log": {"version": "1.2"}}', "HAR without a log.entries list"),
        (b'{"hello": "world"}', "neither a HAR file nor an ngrok-inspect export"),
        (b"\xff\xfa\x00garbage", "is not UTF-8 text"),
        (b'[1, 2, "three"]', "no entry of"),
    ],
)
def test_files_that_are_not_importable_exit_2(tmp_path: Path, content: bytes, message: str) -> None:
    src = tmp_path / "in.har"
    src.write_bytes(content)
    db = tmp_path / "a.sqlite"
    r = invoke(["import", str(src), "--db", str(db)])
    assert (r.exit_code, r.stdout) == (2, ""), r.stderr
    assert message in r.stderr and len(r.stderr.splitlines()) == 2
    assert not db.exists()  # nothing to store: no archive was created


def test_hostile_numbers_and_nesting_are_refused_not_crashes(tmp_path: Path) -> None:
    good = json.loads((HAR / "broken.har").read_text())["log"]["entries"][9]

    def with_time(value: str) -> str:
        return json.dumps(good).replace('"time": 1', f'"time": {value}', 1)

    entries = [with_time("NaN"), with_time("Infinity"), with_time("1e300"), with_time("1")]
    src = tmp_path / "numbers.har"
    src.write_text('{"log": {"entries": [' + ", ".join(entries) + "]}}")
    r, summary = _import(src, tmp_path / "a.sqlite")
    assert r.exit_code == 0, r.stderr
    assert summary["stored"] == 1
    assert [s["reason"] for s in summary["skipped"]] == [
        "time nan is out of range",
        "time inf is out of range",
        "time 1e+300 is out of range",
    ]
    deep = "[" * 100_000 + "]" * 100_000
    whole = tmp_path / "deep.har"
    whole.write_text('{"log": {"entries": [' + deep + "]}}")
    r = invoke(["import", str(whole), "--db", str(tmp_path / "b.sqlite")])
    assert (r.exit_code, r.stdout) == (2, "") and "nested too deeply" in r.stderr
    import_file(HAR / "insomnia.har", tmp_path / "c.sqlite")
    listed = invoke(["requests", "list", "--json", "--db", str(tmp_path / "c.sqlite")])
    record = json.dumps(json.loads(listed.stdout)[0])
    nd = tmp_path / "deep.ndjson"
    nd.write_text(record + "\n" + deep + "\n")
    r, summary = _import(nd, tmp_path / "d.sqlite")
    assert r.exit_code == 0, r.stderr
    assert summary["stored"] == 1
    assert summary["skipped"] == [{"entry": 2, "reason": "line 2 is nested too deeply"}]


def test_haralyzer_missing_pageref_has_no_importable_entry(tmp_path: Path) -> None:
    # its entries keep method and url inside postData: not a request HAR 1.2 describes
    r = invoke(["import", str(HAR / "missing_pageref.har"), "--db", str(tmp_path / "a.sqlite")])
    assert r.exit_code == 2
    assert "entry 1: request.method is missing" in r.stderr


def test_missing_file_and_database_errors(tmp_path: Path) -> None:
    r = invoke(["import", str(tmp_path / "nope.har"), "--db", str(tmp_path / "a.sqlite")])
    assert r.exit_code == 2 and "cannot read" in r.stderr
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database" * 100)
    r = invoke(["import", str(HAR / "quirks.har"), "--db", str(junk)])
    assert (r.exit_code, r.stdout) == (2, "") and "not an ngrok-inspect archive" in r.stderr


def test_import_reads_stdin(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    r = invoke(["import", "-", "--db", str(db)], input=(HAR / "insomnia.har").read_bytes())
    assert r.exit_code == 0, r.stderr
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT source FROM captures").fetchall() == [("har:stdin",)]


# --- this tool's own exports ----------------------------------------------------------------


@pytest.mark.parametrize("redact", [True, False], ids=["redacted", "no-redact"])
def test_har_export_import_export_gives_the_same_entries(
    local_agent: Any, tmp_path: Path, redact: bool
) -> None:
    send_traffic(local_agent.tunnels[0].public_url)
    flags = [] if redact else ["--no-redact"]
    first = invoke(["export", "--format", "har", *flags, "--api-url", local_agent.api_url])
    assert first.exit_code == 0, first.stderr
    src = tmp_path / "first.har"
    src.write_bytes(first.stdout_bytes)
    db = tmp_path / "a.sqlite"
    r, summary = _import(src, db)
    assert summary["stored"] == 12 and summary["skipped"] == [], r.stderr
    second = invoke(["export", "--format", "har", *flags, "--db", str(db)])
    assert second.exit_code == 0, second.stderr
    a = json.loads(first.stdout)["log"]["entries"]
    b = json.loads(second.stdout)["log"]["entries"]
    assert _strip_ids(b) == _strip_ids(a)
    # ids of their own, never the agent's
    assert not {e["_id"] for e in a} & {e["_id"] for e in b}
    # importing the same file again stores nothing new
    _, again = _import(src, db)
    assert (again["stored"], again["duplicates"]) == (0, 12)


@pytest.mark.parametrize("fmt", ["json", "ndjson", "raw"])
def test_own_exports_import_as_the_same_records(local_agent: Any, tmp_path: Path, fmt: str) -> None:
    send_traffic(local_agent.tunnels[0].public_url)
    out = invoke(["export", "--format", fmt, "--no-redact", "--api-url", local_agent.api_url])
    assert out.exit_code == 0, out.stderr
    src = tmp_path / f"export.{fmt}"
    src.write_bytes(out.stdout_bytes)
    db = tmp_path / "a.sqlite"
    r, summary = _import(src, db)
    assert summary["format"] == fmt and summary["stored"] == 12, r.stderr
    live = json.loads(
        invoke(["requests", "list", "--json", "--api-url", local_agent.api_url]).stdout
    )
    archived = json.loads(invoke(["requests", "list", "--json", "--db", str(db)]).stdout)

    def same(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in x.items() if k != "id"} for x in records]

    assert same(archived) == same(live)


def test_show_json_output_imports(local_agent: Any, tmp_path: Path) -> None:
    send_traffic(local_agent.tunnels[0].public_url)
    shown = invoke(["requests", "show", "last", "--json", "--api-url", local_agent.api_url])
    src = tmp_path / "one.json"
    src.write_bytes(shown.stdout_bytes)
    db = tmp_path / "a.sqlite"
    _, summary = _import(src, db)
    assert (summary["format"], summary["stored"]) == ("json", 1)


def test_import_file_library_call(tmp_path: Path) -> None:
    result = import_file(HAR / "quirks.har", tmp_path / "a.sqlite")
    assert (result.format, result.entries, result.stored, result.no_response) == ("har", 7, 6, 1)
