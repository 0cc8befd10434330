"""write_atomic: all or nothing, --force, full disks, devices; nothing half-written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ngrok_inspect.atomicio import write_atomic
from ngrok_inspect.errors import OutputError, UsageError


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_new_file_written_with_umask_permissions(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    old = os.umask(0o022)
    try:
        write_atomic(target, "[]\n")
    finally:
        os.umask(old)
    assert target.read_bytes() == b"[]\n"
    assert target.stat().st_mode & 0o777 == 0o644
    assert listing(tmp_path) == ["out.json"]


def test_bytes_written_exactly(tmp_path: Path) -> None:
    data = bytes(range(256)) * 100
    write_atomic(tmp_path / "b.bin", data)
    assert (tmp_path / "b.bin").read_bytes() == data


def test_existing_file_needs_force_and_is_left_untouched(tmp_path: Path) -> None:
    target = tmp_path / "out.har"
    target.write_text("precious")
    with pytest.raises(UsageError, match="already exists") as info:
        write_atomic(target, "new")
    assert info.value.exit_code == 2
    assert info.value.hint and "--force" in info.value.hint
    assert target.read_text() == "precious"
    assert listing(tmp_path) == ["out.har"]


def test_force_replaces_and_keeps_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.har"
    target.write_text("old")
    target.chmod(0o600)
    inode = target.stat().st_ino
    write_atomic(target, "new", force=True)
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o600
    assert target.stat().st_ino != inode  # replaced by rename, not rewritten in place
    assert listing(tmp_path) == ["out.har"]


def test_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        write_atomic(tmp_path / "nope" / "out.json", "x")
    assert listing(tmp_path) == []


def test_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="not a directory"):
        write_atomic(tmp_path / "file" / "out.json", "x")


def test_target_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a directory"):
        write_atomic(tmp_path, "x", force=True)


def test_dev_full_is_an_output_error() -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    with pytest.raises(OutputError, match="No space left") as info:
        write_atomic(Path("/dev/full"), "x" * 10000)
    assert info.value.exit_code == 1
    assert info.value.hint and "space" in info.value.hint
    assert Path("/dev/full").is_char_device()  # written to, never replaced


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (needs root and mount rights; skipped otherwise)."""
    mnt = tmp_path / f"tiny-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    if not shutil.which("mount") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
        capture_output=True,
        check=False,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_full_disk_leaves_target_untouched_and_no_temp_file(tiny_tmpfs: Path) -> None:
    target = tiny_tmpfs / "out.json"
    target.write_text("precious")
    with pytest.raises(OutputError, match="No space left"):
        write_atomic(target, "x" * 1_000_000, force=True)
    assert target.read_text() == "precious"
    assert listing(tiny_tmpfs) == ["out.json"]
    with pytest.raises(OutputError):
        write_atomic(tiny_tmpfs / "new.json", "x" * 1_000_000)
    assert listing(tiny_tmpfs) == ["out.json"]


def test_file_size_limit_in_a_subprocess(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes the temp-file write fail (EFBIG) like a full disk would."""
    target = tmp_path / "out.json"
    target.write_text("precious")
    code = (
        "import resource, signal, sys\n"
        "from pathlib import Path\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "from ngrok_inspect.errors import OutputError\n"
        "from ngrok_inspect.atomicio import write_atomic\n"
        "try:\n"
        "    write_atomic(Path(sys.argv[1]), 'x' * 100000, force=True)\n"
        "except OutputError as e:\n"
        "    print(e.message, '|', e.hint)\n"
        "    sys.exit(e.exit_code)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, str(target)], capture_output=True, text=True, check=False
    )
    assert r.returncode == 1, r.stderr
    assert "File too large" in r.stdout and "space" in r.stdout
    assert target.read_text() == "precious"
    assert listing(tmp_path) == ["out.json"]
