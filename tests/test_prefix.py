"""Reading a prefix: what each scanned file records."""

from __future__ import annotations

import os
from pathlib import Path

from condapack.members import Member
from condapack.prefix import File, scan_prefix, walk_prefix


def _tiny_prefix(root: Path) -> Path:
    (root / "conda-meta").mkdir(parents=True)
    (root / "lib").mkdir()
    (root / "lib" / "data.txt").write_text("no prefix here\n")
    return root


def test_scanned_files_are_read_from_the_path_below_their_prefix(tmp_path: Path) -> None:
    prefix = _tiny_prefix(tmp_path / "env")
    (scanned,) = [f for f in scan_prefix(prefix).files if f.target == "lib/data.txt"]
    assert scanned.source == f"{prefix}/lib/data.txt"
    assert scanned.root == str(prefix)


def test_a_file_given_a_source_is_read_from_it() -> None:
    assert File("/elsewhere/a.so", "lib/a.so").source == "/elsewhere/a.so"


def test_a_member_made_from_a_file_is_read_from_the_files_source() -> None:
    f = File(None, "lib/a.so", root="/env")
    assert Member(name="app/lib/a.so", kind="file", mode=0o644, file=f).source == "/env/lib/a.so"
    assert Member(name="x", kind="file", mode=0o644, source="/y").source == "/y"
    assert Member(name="x", kind="file", mode=0o644, data=b"").source is None


def test_the_walk_shares_one_int_per_distinct_mode_and_mtime(tmp_path: Path) -> None:
    # a big environment's files mostly repeat a few modes and their packages' build times:
    # one int object each, not 28-36 bytes per file
    (tmp_path / "conda-meta").mkdir()
    for name in ("a", "b"):
        path = tmp_path / f"{name}.txt"
        path.write_text(name)
        path.chmod(0o640)
        os.utime(path, ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    disk = dict(walk_prefix(tmp_path))
    a, b = disk["a.txt"], disk["b.txt"]
    assert (a.mode, a.mtime_ns) == (0o640, 1_700_000_000_123_456_789)
    assert a.mode is b.mode and a.mtime_ns is b.mtime_ns
