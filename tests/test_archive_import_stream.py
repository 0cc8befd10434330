"""``import`` reads a file entry by entry: the same entries as ``json.loads`` of the whole
file, whatever the window's edge cuts through; errors with the line and column
``json.loads`` would give; memory bounded by a batch, not the file (tracemalloc)."""

from __future__ import annotations

import io
import json
import os
import pty
import resource
import signal
import sqlite3
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ngrok_inspect.archive import ArchiveSource, ArchiveWriter
from ngrok_inspect.archive.importing import BATCH_ENTRIES, import_file
from ngrok_inspect.archive.reading import ImportFileError, Unreadable, read_document
from ngrok_inspect.models import CapturedRequest
from tests.cli_invoke import invoke

HAR = Path(__file__).parent / "fixtures" / "har"


def _reference(data: bytes) -> tuple[str, list[Any]]:
    """What the whole-file reader made of a file (HAR, list or one object)."""
    codec = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    doc = json.loads(data.decode(codec))
    if isinstance(doc, dict) and "log" in doc:
        return "har", doc["log"]["entries"]
    if isinstance(doc, list):
        return ("raw" if doc and "tunnel_name" in doc[0] else "json"), doc
    return ("har" if "startedDateTime" in doc else "json"), [doc]


def _read(data: bytes, chunk: int) -> tuple[str, list[Any]]:
    fmt, entries = read_document(io.BytesIO(data), "f.har", chunk=chunk)
    return fmt, list(entries)


def _same(a: Any, b: Any) -> bool:
    # through json.dumps: NaN equals NaN, and the order of keys is compared too
    return json.dumps(a, default=repr) == json.dumps(b, default=repr)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 4096])
@pytest.mark.parametrize("name", sorted(p.name for p in HAR.glob("*.har")))
def test_every_fixture_reads_the_same_entries_at_any_window_edge(name: str, chunk: int) -> None:
    data = (HAR / name).read_bytes()
    assert _same(_read(data, chunk), _reference(data))


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),  # any code point: multi-byte UTF-8 and UTF-16 across the edge
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(
    entries=st.lists(st.dictionaries(st.text(max_size=8), _json), max_size=6),
    shape=st.sampled_from(["har", "list"]),
    indent=st.sampled_from([None, 0, 2]),
    ascii_only=st.booleans(),
    codec=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
    chunk=st.integers(min_value=1, max_value=40),
)
def test_generated_documents_read_like_json_loads(
    entries: list[dict[str, Any]],
    shape: str,
    indent: int | None,
    ascii_only: bool,
    codec: str,
    chunk: int,
) -> None:
    doc: Any = (
        {"log": {"version": "1.2", "pages": [{"id": "p"}], "entries": entries, "x": 1.5}}
        if shape == "har"
        else entries
    )
    data = json.dumps(doc, indent=indent, ensure_ascii=ascii_only).encode(codec)
    fmt, got = _read(data, chunk)
    assert _same(got, entries)
    assert fmt == ("har" if shape == "har" else "json")


@pytest.mark.parametrize("chunk", [1, 5, 1 << 20])
def test_ndjson_lines_one_at_a_time(chunk: int) -> None:
    lines = [{"id": "a", "status_code": 200}, {"id": "b", "n": 12345678901234567890}]
    text = json.dumps(lines[0]) + "\r\n\n" + json.dumps(lines[1]) + "\n{not json\n[" * 3
    fmt, got = _read(text.encode(), chunk)
    assert fmt == "ndjson"
    assert got[:2] == lines
    assert got[2] == Unreadable(
        "line 3 is not JSON (Expecting property name enclosed in double quotes)"
    )
    assert isinstance(got[3], Unreadable) and got[3].reason.startswith("line 4 is not JSON")


def _big_har(entries: int, body: int) -> bytes:
    """A pretty-printed HAR of ``entries`` requests, each answered by ``body`` bytes."""
    out = []
    for n in range(entries):
        text = (f"entry {n} " + "abcdefghij" * (body // 10))[:body]
        out.append(
            {
                "startedDateTime": f"2026-11-30T10:{n // 60 % 60:02d}:{n % 60:02d}.000Z",
                "time": 1.5,
                "request": {
                    "method": "POST",
                    "url": f"https://big.example.test/items/{n}?q=1",
                    "httpVersion": "HTTP/1.1",
                    "headers": [{"name": "Content-Type", "value": "application/json"}],
                    "postData": {"mimeType": "application/json", "text": json.dumps({"n": n})},
                },
                "response": {
                    "status": 200,
                    "statusText": "OK",
                    "httpVersion": "HTTP/1.1",
                    "headers": [{"name": "Content-Type", "value": "text/plain"}],
                    "content": {"size": body, "mimeType": "text/plain", "text": text},
                },
            }
        )
    doc = {"log": {"version": "1.2", "creator": {"name": "test", "version": "1"}, "entries": out}}
    return json.dumps(doc, indent=2).encode()


def test_errors_say_the_line_and_column_json_loads_would(tmp_path: Path) -> None:
    data = _big_har(60, 200).decode()
    # break entry 50: a comma between two members becomes a semicolon
    at = data.index('"time": 1.5,', data.index("/items/49?"))
    broken = data[: at + len('"time": 1.5')] + ";" + data[at + len('"time": 1.5,') :]
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(broken)
    for chunk in (7, 1000, 1 << 20):
        _, entries = read_document(io.BytesIO(broken.encode()), "f.har", chunk=chunk)
        with pytest.raises(ImportFileError) as got:
            list(entries)
        e = expected.value
        assert got.value.message == (
            f"f.har is not JSON (line {e.lineno}, column {e.colno}: {e.msg})"
        )


def _count(db: Path) -> int:
    return int(sqlite3.connect(db).execute("SELECT count(*) FROM captures").fetchone()[0])


def test_a_file_cut_short_after_some_batches_stores_nothing(tmp_path: Path) -> None:
    data = _big_har(BATCH_ENTRIES * 2 + 50, 100)
    cut = tmp_path / "cut.har"
    cut.write_bytes(data[: data.rindex(b'"startedDateTime"') + 10])  # inside the last entry
    db = tmp_path / "a.sqlite"
    import_file(HAR / "insomnia.har", db)  # the archive had something before
    r = invoke(["import", str(cut), "--db", str(db)])
    assert (r.exit_code, r.stdout) == (2, ""), r.stderr
    assert "is not JSON (line" in r.stderr
    assert _count(db) == 1  # the batches before the cut were rolled back


def test_strict_after_some_batches_stores_nothing(tmp_path: Path) -> None:
    doc = json.loads(_big_har(BATCH_ENTRIES * 2 + 50, 100))
    doc["log"]["entries"][BATCH_ENTRIES * 2 + 10]["request"]["url"] = "/relative"
    src = tmp_path / "late.har"
    src.write_text(json.dumps(doc))
    db = tmp_path / "a.sqlite"
    r = invoke(["import", str(src), "--db", str(db), "--strict"])
    assert (r.exit_code, r.stdout) == (6, ""), r.stderr
    assert f"1 of {BATCH_ENTRIES * 2 + 50} entries" in r.stderr
    assert not db.exists() or _count(db) == 0
    ok = invoke(["import", str(src), "--db", str(db), "--json"])
    assert ok.exit_code == 0, ok.stderr
    summary = json.loads(ok.stdout)
    assert summary["stored"] == BATCH_ENTRIES * 2 + 49
    assert summary["skipped"][0]["entry"] == BATCH_ENTRIES * 2 + 11


def test_memory_is_bounded_by_a_batch_not_the_file(tmp_path: Path) -> None:
    """A 24 MB HAR is imported with a Python heap peak of a fraction of its size (about
    3.5 MB, the same for a file twice as large): the file is never held whole. Reading it
    whole with json.loads alone peaks well above its size (bench/bench_import.py)."""
    data = _big_har(600, 40_000)
    src = tmp_path / "big.har"
    src.write_bytes(data)
    del data
    db = tmp_path / "a.sqlite"
    tracemalloc.start()
    try:
        result = import_file(src, db)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.stored, result.skipped) == (600, [])
    size = src.stat().st_size
    assert size > 24_000_000
    assert peak < size / 4, (peak, size)
    assert _count(db) == 600


def test_one_entry_larger_than_the_window(tmp_path: Path) -> None:
    data = _big_har(3, 3 << 20)  # each body three times the 1 MiB window
    fmt, entries = read_document(io.BytesIO(data), "f.har")
    got = list(entries)
    assert fmt == "har" and [len(e["response"]["content"]["text"]) for e in got] == [3 << 20] * 3


class _Pausing(io.BytesIO):
    """A file that, once most of it has been read, lets ``during`` run: what happens while
    the import is still reading (another writer on the same archive)."""

    def __init__(self, data: bytes, during: Any) -> None:
        super().__init__(data)
        self.at, self.during, self.done = len(data) * 3 // 4, during, False

    def read(self, size: int | None = -1) -> bytes:
        if not self.done and self.tell() >= self.at:
            self.done = True
            self.during()
        return super().read(size)


def test_the_archive_is_not_locked_while_the_file_is_read(tmp_path: Path) -> None:
    """Rows go to a scratch file first: another writer (``record``) stores into the archive
    while a large import is still reading, and the import adds its captures after."""
    db = tmp_path / "a.sqlite"
    import_file(HAR / "insomnia.har", db)
    other = ArchiveSource(db).list_requests()[0]
    moved = CapturedRequest({**other.data, "id": "airt_" + "x" * 27})
    stored: list[int] = []

    def another_writer() -> None:
        # with the import holding the write lock this would wait 5 s and fail "locked"
        with ArchiveWriter(db) as writer:
            stored.append(writer.add([moved], "record"))
        scratch = list(tmp_path.glob(".a.sqlite.*.import"))
        stored.append(len(scratch))

    data = _big_har(BATCH_ENTRIES * 3, 2000)
    result = import_file("big.har", db, data=_Pausing(data, another_writer))
    assert stored == [1, 1]  # stored at once, while the scratch file was being filled
    assert result.stored == BATCH_ENTRIES * 3
    assert _count(db) == BATCH_ENTRIES * 3 + 2
    assert list(tmp_path.glob(".a.sqlite.*")) == []  # the scratch file is gone


def test_no_scratch_file_is_left_by_a_failed_import(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    data = _big_har(BATCH_ENTRIES * 2 + 5, 100)
    with pytest.raises(ImportFileError):
        import_file("cut.har", db, data=data[: len(data) - 40])
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert _count(db) == 0


def test_millions_of_broken_entries_are_counted_not_listed(tmp_path: Path) -> None:
    """A hostile file of tiny broken entries: every one counted, the first 1000 listed, the
    heap bounded all the same."""
    src = tmp_path / "hostile.har"
    count = 300_000
    with src.open("w") as f:
        f.write('{"log": {"entries": [' + ", ".join(["1"] * count) + "]}}")
    tracemalloc.start()
    try:
        r = invoke(["import", str(src), "--db", str(tmp_path / "a.sqlite"), "--json"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.exit_code == 2 and "no entry of" in r.stderr
    result = import_file(HAR / "insomnia.har", tmp_path / "b.sqlite")
    assert result.skipped_count == 0
    mixed = json.loads((HAR / "insomnia.har").read_text())
    mixed["log"]["entries"] += [1] * 1500
    src.write_text(json.dumps(mixed))
    r = invoke(["import", str(src), "--db", str(tmp_path / "c.sqlite"), "--json"])
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["skipped_count"] == 1500 and len(summary["skipped"]) == 1000
    assert summary["skipped"][-1] == {"entry": 1001, "reason": "is a int, not an object"}
    assert "1497 more (--json lists the first 1000)" in r.stderr
    assert peak < 20_000_000, peak  # 300,000 Skipped would be far more


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="needs RLIMIT_FSIZE")
def test_a_disk_filling_during_an_import_exits_1_and_stores_nothing(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    import_file(HAR / "insomnia.har", db)
    src = tmp_path / "big.har"
    src.write_bytes(_big_har(2000, 2000))  # 4 MB of captures for a 2 MB file size limit

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, 2_000_000))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write fails (EFBIG), no kill

    exe = str(Path(sys.executable).with_name("ngrok-inspect"))
    r = subprocess.run(
        [exe, "import", str(src), "--db", str(db)],
        preexec_fn=limit,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (r.returncode, r.stdout) == (1, ""), r.stderr
    assert r.stderr.splitlines()[0] == f"Error: archive {str(db)!r}: disk full; nothing was stored"
    assert _count(db) == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".import")] == []


def test_progress_is_reported_after_each_full_batch(tmp_path: Path) -> None:
    src = tmp_path / "big.har"
    src.write_bytes(_big_har(BATCH_ENTRIES * 3 + 10, 100))
    seen: list[tuple[int, int | None]] = []
    import_file(src, tmp_path / "a.sqlite", progress=lambda n, at: seen.append((n, at)))
    assert [n for n, _ in seen] == [BATCH_ENTRIES, BATCH_ENTRIES * 2, BATCH_ENTRIES * 3]
    offsets = [at or 0 for _, at in seen]
    assert all(at for _, at in seen)  # a file: how far into it, always known
    assert offsets == sorted(offsets) and offsets[-1] <= src.stat().st_size


def test_a_terminal_sees_the_import_progress(tmp_path: Path) -> None:
    src = tmp_path / "big.har"
    src.write_bytes(_big_har(BATCH_ENTRIES * 3 + 10, 100))
    leader, follower = pty.openpty()
    exe = str(Path(sys.executable).with_name("ngrok-inspect"))
    proc = subprocess.Popen(
        [exe, "import", str(src), "--db", str(tmp_path / "a.sqlite")],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    os.close(follower)
    seen = b""
    try:
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the child closed its side
                break
            if not chunk:
                break
            seen += chunk
        assert proc.wait(timeout=60) == 0, seen
    finally:
        proc.kill()
        proc.wait()
        os.close(leader)
    text = seen.decode()
    assert f"\rImporting {src}: {BATCH_ENTRIES} entries read, " in text
    assert f"\rImporting {src}: {BATCH_ENTRIES * 3} entries read, " in text
    assert "%" in text
    last = text.replace("\r\n", "\n").rstrip("\n").split("\n")[-1]
    assert last.startswith(f"Imported {src} (HAR, {BATCH_ENTRIES * 3 + 10} entries)")
    assert proc.stdout is not None and proc.stdout.read() == b""  # stdout: data only
