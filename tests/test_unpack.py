"""Pin conda-unpack's contract on a small hand-made prefix.

The end-to-end tests run it on real environments; these pin the edge cases: running
twice, moving twice, all-or-nothing failure and resuming an interrupted commit.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import condapack
from condapack.rewrite import replace_binary

PKG = Path(condapack.__file__).parent
OLD = "/opt/old/env"
PLACEHOLDER_ROOM = 200


def _make_prefix(root: Path) -> Path:
    prefix = root / "env"
    meta = prefix / "conda-meta" / "condapack"
    meta.mkdir(parents=True)
    shutil.copy(PKG / "scripts" / "unpack.py", meta / "unpack.py")
    shutil.copy(PKG / "rewrite.py", meta / "rewrite.py")
    (prefix / "bin").mkdir()
    (prefix / "bin" / "conda-unpack").write_bytes((PKG / "scripts" / "conda-unpack.sh").read_bytes())
    (prefix / "bin" / "conda-unpack").chmod(0o755)
    (prefix / "bin" / "tool").write_text(f"#!{OLD}/bin/python\nprint('{OLD}')\n")
    (prefix / "bin" / "tool").chmod(0o751)
    (prefix / "lib.so").write_bytes(b"\x7fELF" + OLD.encode() + b"/lib\0" + b"\0" * PLACEHOLDER_ROOM + b"end")
    manifest = {"version": 1, "prefix": OLD,
                "files": [["bin/tool", "text", 0], ["lib.so", "binary", PLACEHOLDER_ROOM]]}
    (meta / "unpack.json").write_text(json.dumps(manifest))
    return prefix


def _unpack(prefix: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(prefix / "conda-meta/condapack/unpack.py"), str(prefix)],
                          capture_output=True, text=True)


def _recorded(prefix: Path) -> str:
    return str(json.loads((prefix / "conda-meta/condapack/unpack.json").read_text())["prefix"])


def test_unpack_rewrites_text_and_binary_files_and_records_the_new_prefix(tmp_path: Path) -> None:
    prefix = _make_prefix(tmp_path)
    result = _unpack(prefix)
    assert result.returncode == 0, result.stderr
    assert (prefix / "bin/tool").read_text() == f"#!{prefix}/bin/python\nprint('{prefix}')\n"
    assert (prefix / "lib.so").read_bytes().startswith(b"\x7fELF" + str(prefix).encode() + b"/lib\0")
    assert len((prefix / "lib.so").read_bytes()) == 4 + len(OLD) + 5 + PLACEHOLDER_ROOM + 3
    assert (prefix / "bin/tool").stat().st_mode & 0o777 == 0o751
    assert _recorded(prefix) == str(prefix)
    assert result.stderr == f"conda-unpack: relocated 2 files to {prefix}\n"


def test_second_run_in_place_changes_nothing(tmp_path: Path) -> None:
    prefix = _make_prefix(tmp_path)
    _unpack(prefix)
    before = (prefix / "bin/tool").read_bytes()
    result = _unpack(prefix)
    assert result.returncode == 0
    assert result.stderr == f"conda-unpack: {prefix} is already set up for this location\n"
    assert (prefix / "bin/tool").read_bytes() == before


def test_moving_again_relocates_from_the_recorded_prefix(tmp_path: Path) -> None:
    prefix = _make_prefix(tmp_path)
    _unpack(prefix)
    moved = tmp_path / "elsewhere" / "env-moved-further"
    moved.parent.mkdir()
    prefix.rename(moved)
    assert _unpack(moved).returncode == 0
    assert (moved / "bin/tool").read_text() == f"#!{moved}/bin/python\nprint('{moved}')\n"
    assert _recorded(moved) == str(moved)


def test_failure_changes_nothing_and_says_so(tmp_path: Path) -> None:
    root = tmp_path / ("x" * PLACEHOLDER_ROOM)
    root.mkdir()
    prefix = _make_prefix(root)  # the new prefix is longer than the binary's room
    before = {p: (prefix / p).read_bytes() for p in ("bin/tool", "lib.so")}
    result = _unpack(prefix)
    assert result.returncode == 1
    assert result.stderr.startswith(f"conda-unpack: error: cannot relocate 1 files to {prefix} (lib.so: ")
    assert result.stderr.endswith("nothing was changed: fix the cause (or choose a shorter path) "
                                  "and run conda-unpack again\n")
    assert {p: (prefix / p).read_bytes() for p in before} == before
    assert _recorded(prefix) == OLD
    assert not list(prefix.rglob("*.condapack-unpack"))


def test_interrupted_commit_is_finished_by_the_next_run(tmp_path: Path) -> None:
    prefix = _make_prefix(tmp_path)
    # State left by a run killed after preparing both files and renaming one of them.
    new_tool = f"#!{prefix}/bin/python\nprint('{prefix}')\n"
    (prefix / "bin/tool").write_text(new_tool)
    lib = (prefix / "lib.so").read_bytes()
    fixed_lib = replace_binary(lib, OLD.encode(), str(prefix).encode(), PLACEHOLDER_ROOM)
    (prefix / "lib.so.condapack-unpack").write_bytes(fixed_lib)
    manifest = json.loads((prefix / "conda-meta/condapack/unpack.json").read_text())
    manifest["pending"] = str(prefix)
    (prefix / "conda-meta/condapack/unpack.json").write_text(json.dumps(manifest))
    result = _unpack(prefix)
    assert result.returncode == 0, result.stderr
    assert (prefix / "bin/tool").read_text() == new_tool
    assert (prefix / "lib.so").read_bytes() == fixed_lib
    assert _recorded(prefix) == str(prefix)


def test_conda_unpack_launcher_uses_a_host_python_when_the_env_has_none(tmp_path: Path) -> None:
    prefix = _make_prefix(tmp_path)
    result = subprocess.run([str(prefix / "bin/conda-unpack")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert _recorded(prefix) == str(prefix)


def test_conda_unpack_launcher_explains_when_no_python_exists(tmp_path: Path) -> None:
    prefix = _make_prefix(tmp_path)
    result = subprocess.run(["/bin/sh", str(prefix / "bin/conda-unpack")], capture_output=True, text=True,
                            env={"PATH": str(tmp_path / "empty")})
    assert result.returncode == 1
    assert result.stderr == (
        "conda-unpack: error: no Python 3.6+ found (the environment has none and there is no python3 "
        "or python on PATH); install python3 and run conda-unpack again\n")
