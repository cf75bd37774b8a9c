"""Pin conda-unpack's contract on a small hand-made prefix.

The end-to-end tests run it on real environments; these pin the edge cases: running
twice, moving twice, all-or-nothing failure and resuming an interrupted commit.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from condapack.layout import POSIX
from condapack.relocation import Relocatable, unpack_files
from condapack.rewrite import binary_fields, replace_binary
from helpers import minimal_host

OLD = "/opt/old/env"
PLACEHOLDER_ROOM = 200


def _make_prefix(root: Path, extra: tuple[str, ...] = ()) -> Path:
    prefix = root / "env"
    (prefix / "bin").mkdir(parents=True)
    for name in extra:
        (prefix / name).parent.mkdir(parents=True, exist_ok=True)
        (prefix / name).write_text(f"at {OLD}/x\n")
    (prefix / "bin" / "tool").write_text(f"#!{OLD}/bin/python\nprint('{OLD}')\n")
    (prefix / "bin" / "tool").chmod(0o751)
    lib = b"\x7fELF" + OLD.encode() + b"/lib\0" + b"\0" * PLACEHOLDER_ROOM + b"end"
    (prefix / "lib.so").write_bytes(lib)
    items = [Relocatable("bin/tool", "text"),
             Relocatable("lib.so", "binary", PLACEHOLDER_ROOM, tuple(binary_fields(lib, OLD.encode()))),
             *(Relocatable(name, "text") for name in extra)]
    for path, (data, mode) in unpack_files(OLD, items, POSIX).items():
        (prefix / path).parent.mkdir(parents=True, exist_ok=True)
        (prefix / path).write_bytes(data)
        (prefix / path).chmod(mode)
    return prefix


@pytest.fixture(params=["python", "sh"])
def impl(request: pytest.FixtureRequest) -> str:
    """Each contract holds for unpack.py and for the POSIX shell implementation."""
    return str(request.param)


def _unpack(prefix: Path, impl: str) -> subprocess.CompletedProcess[str]:
    if impl == "sh":
        return subprocess.run(["/bin/sh", str(prefix / "bin/conda-unpack"), "--sh"], capture_output=True, text=True)
    return subprocess.run([sys.executable, str(prefix / "conda-meta/condapack/unpack.py"), str(prefix)],
                          capture_output=True, text=True)


def _recorded(prefix: Path) -> str:
    return (prefix / "conda-meta/condapack/prefix").read_text()


def test_unpack_rewrites_text_and_binary_files_and_records_the_new_prefix(tmp_path: Path, impl: str) -> None:
    prefix = _make_prefix(tmp_path)
    result = _unpack(prefix, impl)
    assert result.returncode == 0, result.stderr
    assert (prefix / "bin/tool").read_text() == f"#!{prefix}/bin/python\nprint('{prefix}')\n"
    assert (prefix / "lib.so").read_bytes().startswith(b"\x7fELF" + str(prefix).encode() + b"/lib\0")
    assert len((prefix / "lib.so").read_bytes()) == 4 + len(OLD) + 5 + PLACEHOLDER_ROOM + 3
    assert (prefix / "bin/tool").stat().st_mode & 0o777 == 0o751
    assert _recorded(prefix) == str(prefix)
    assert result.stderr == f"conda-unpack: relocated 2 files to {prefix}\n"


def test_second_run_in_place_changes_nothing(tmp_path: Path, impl: str) -> None:
    prefix = _make_prefix(tmp_path)
    _unpack(prefix, impl)
    before = (prefix / "bin/tool").read_bytes()
    result = _unpack(prefix, impl)
    assert result.returncode == 0
    assert result.stderr == f"conda-unpack: {prefix} is already set up for this location\n"
    assert (prefix / "bin/tool").read_bytes() == before


def test_moving_again_relocates_from_the_recorded_prefix(tmp_path: Path, impl: str) -> None:
    prefix = _make_prefix(tmp_path)
    _unpack(prefix, impl)
    moved = tmp_path / "elsewhere" / "env-moved-further"
    moved.parent.mkdir()
    prefix.rename(moved)
    assert _unpack(moved, impl).returncode == 0
    assert (moved / "bin/tool").read_text() == f"#!{moved}/bin/python\nprint('{moved}')\n"
    assert _recorded(moved) == str(moved)


def test_failure_changes_nothing_and_says_so(tmp_path: Path, impl: str) -> None:
    root = tmp_path / ("x" * PLACEHOLDER_ROOM)
    root.mkdir()
    prefix = _make_prefix(root)  # the new prefix is longer than the binary's room
    before = {p: (prefix / p).read_bytes() for p in ("bin/tool", "lib.so")}
    result = _unpack(prefix, impl)
    assert result.returncode == 1
    assert result.stderr.startswith(f"conda-unpack: error: cannot relocate 1 files to {prefix} (lib.so: ")
    assert result.stderr.endswith("nothing was changed: fix the cause (or choose a shorter path) "
                                  "and run conda-unpack again\n")
    assert {p: (prefix / p).read_bytes() for p in before} == before
    assert _recorded(prefix) == OLD
    assert not list(prefix.rglob("*.condapack-unpack"))


def test_names_and_locations_with_characters_special_to_sed_printf_and_the_shell(tmp_path: Path, impl: str) -> None:
    odd = "share/odd name\nwith a newline %s \\n.txt"
    root = tmp_path / "a b&c[1]*.^$\\d'e\"%s"
    root.mkdir()
    prefix = _make_prefix(root, extra=(odd,))
    result = _unpack(prefix, impl)
    assert result.returncode == 0, result.stderr
    assert (prefix / odd).read_text() == f"at {prefix}/x\n"
    moved = tmp_path / "m&n\\o/|#" / "p q"
    moved.parent.mkdir(parents=True)
    prefix.rename(moved)
    assert _unpack(moved, impl).returncode == 0
    assert (moved / odd).read_text() == f"at {moved}/x\n"
    assert (moved / "bin/tool").read_text() == f"#!{moved}/bin/python\nprint('{moved}')\n"
    assert (moved / "lib.so").read_bytes().startswith(b"\x7fELF" + str(moved).encode() + b"/lib\0")


def test_interrupted_commit_is_finished_by_the_next_run(tmp_path: Path, impl: str) -> None:
    prefix = _make_prefix(tmp_path)
    # State left by a run killed after preparing both files and renaming one of them.
    new_tool = f"#!{prefix}/bin/python\nprint('{prefix}')\n"
    (prefix / "bin/tool").write_text(new_tool)
    lib = (prefix / "lib.so").read_bytes()
    fixed_lib = replace_binary(lib, OLD.encode(), str(prefix).encode(), PLACEHOLDER_ROOM)
    (prefix / "lib.so.condapack-unpack").write_bytes(fixed_lib)
    (prefix / "conda-meta/condapack/pending").write_text(str(prefix))
    result = _unpack(prefix, impl)
    assert result.returncode == 0, result.stderr
    assert (prefix / "bin/tool").read_text() == new_tool
    assert (prefix / "lib.so").read_bytes() == fixed_lib
    assert _recorded(prefix) == str(prefix)


def test_conda_unpack_launcher_uses_a_host_python_when_the_env_has_none(tmp_path: Path) -> None:
    prefix = _make_prefix(tmp_path)
    result = subprocess.run([str(prefix / "bin/conda-unpack")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert _recorded(prefix) == str(prefix)


def test_conda_unpack_without_any_python_uses_the_shell_implementation(tmp_path: Path) -> None:
    prefix = _make_prefix(tmp_path)
    result = subprocess.run(["/bin/sh", str(prefix / "bin/conda-unpack")], capture_output=True, text=True,
                            env={"PATH": str(minimal_host(tmp_path / "bb"))})
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"conda-unpack: relocated 2 files to {prefix}\n"
    assert (prefix / "bin/tool").read_text() == f"#!{prefix}/bin/python\nprint('{prefix}')\n"
