"""Pin conda-unpack's contract on a small hand-made prefix.

The end-to-end tests run it on real environments; these pin the edge cases: running
twice, moving twice, all-or-nothing failure and resuming an interrupted commit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from condapack import __version__
from condapack.layout import POSIX, WINDOWS
from condapack.relocation import Relocatable, unpack_files
from condapack.unpack.rewrite import binary_fields, holds, make_shebang, replace_binary
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
    """Each contract holds for the unpack package and for the POSIX shell implementation."""
    return str(request.param)


def _unpack(prefix: Path, impl: str) -> subprocess.CompletedProcess[str]:
    if impl == "sh":
        return subprocess.run(["/bin/sh", str(prefix / "bin/conda-unpack"), "--sh"], capture_output=True, text=True)
    return subprocess.run([sys.executable, str(prefix / "conda-meta/condapack/unpack"), str(prefix)],
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
    # A blank in the location: the interpreter is named by the trampoline, quoted.
    tool = (moved / "bin/tool").read_bytes()
    assert tool == make_shebang(f"{moved}/bin/python".encode(), b"") + f"print('{moved}')\n".encode()
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


# -- conda-pack's command line: --help, --version, -v -----------------------------------

#: How each entry runs: bin/conda-unpack choosing Python, the same forced to the shell
#: implementation, and the unpack package itself (what Scripts\\conda-unpack.exe runs on Windows).
ENTRIES = {
    "conda-unpack": lambda prefix: [str(prefix / "bin/conda-unpack")],
    "conda-unpack --sh": lambda prefix: ["/bin/sh", str(prefix / "bin/conda-unpack"), "--sh"],
    "the unpack package": lambda prefix: [sys.executable, str(prefix / "conda-meta/condapack/unpack"), str(prefix)],
}


@pytest.mark.parametrize("entry", ENTRIES)
def test_conda_unpack_version_names_the_condapack_that_packed_it_and_changes_nothing(tmp_path: Path,
                                                                                      entry: str) -> None:
    prefix = _make_prefix(tmp_path)
    result = subprocess.run([*ENTRIES[entry](prefix), "--version"], capture_output=True, text=True)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"conda-unpack {__version__} (condapack)\n", "")
    assert _recorded(prefix) == OLD


@pytest.mark.parametrize("entry", ENTRIES)
def test_conda_unpack_help_lists_conda_packs_options_and_changes_nothing(tmp_path: Path, entry: str) -> None:
    prefix = _make_prefix(tmp_path)
    result = subprocess.run([*ENTRIES[entry](prefix), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("usage: conda-unpack [-h] [--version] [-v] [-q]")
    for option in ("-h, --help", "--version", "-v, --verbose", "-q, --quiet"):
        assert f"\n  {option} " in result.stdout
    assert _recorded(prefix) == OLD


@pytest.mark.parametrize("entry", ENTRIES)
def test_conda_unpack_accepts_conda_packs_verbose_flag(tmp_path: Path, entry: str) -> None:
    prefix = _make_prefix(tmp_path)
    result = subprocess.run([*ENTRIES[entry](prefix), "-v"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert _recorded(prefix) == str(prefix)


def test_windows_conda_unpack_script_answers_version_before_touching_anything(tmp_path: Path) -> None:
    prefix = _make_prefix(tmp_path)
    script = prefix / "Scripts/conda-unpack-script.py"
    script.parent.mkdir()
    script.write_bytes(unpack_files(OLD, [], WINDOWS)["Scripts/conda-unpack-script.py"][0])
    result = subprocess.run([sys.executable, str(script), "--version"], capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (0, f"conda-unpack {__version__} (condapack)\n")


# -- in place, journaled -----------------------------------------------------------------

# Runs the unpack package with os-level writes counted: at the AT-th one it is killed (MODE kill)
# or the write fails with ENOSPC (MODE fail); MODE none only counts. Then it prints its
# peak RSS (VmHWM, the memory of this process only) on stdout.
HARNESS = """
import os, runpy, signal, sys
mode, at = sys.argv[1], int(sys.argv[2])
calls = [0]
def hooked(real):
    def call(*args, **kwargs):
        calls[0] += 1
        if calls[0] == at and mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if calls[0] == at and mode == "fail":
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)
    return call
for name in ("pwrite", "write", "ftruncate", "link", "replace", "rename", "unlink", "utime"):
    setattr(os, name, hooked(getattr(os, name)))
sys.argv = sys.argv[3:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    with open("/proc/self/status") as fh:
        print([line.split()[1] for line in fh if line.startswith("VmHWM:")][0], calls[0])
"""


def _harness(prefix: Path, mode: str = "none", at: int = 0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", HARNESS, mode, str(at), str(prefix / "conda-meta/condapack/unpack"),
                           str(prefix)], capture_output=True, text=True)


def _snapshot(prefix: Path) -> dict[str, tuple[bytes, int]]:
    """Content and mtime of every file but conda-unpack's own state."""
    return {p.relative_to(prefix).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(prefix.rglob("*"))
            if p.is_file() and "conda-meta/condapack" not in p.as_posix()}


def _contents(prefix: Path) -> dict[str, bytes]:
    return {p.relative_to(prefix).as_posix(): p.read_bytes() for p in sorted(prefix.rglob("*")) if p.is_file()
            and not p.name.endswith(".pyc")}


def test_files_change_in_place_and_files_without_the_prefix_are_not_touched(tmp_path: Path) -> None:
    prefix = _make_prefix(tmp_path, extra=("share/plain.txt",))
    (prefix / "share/plain.txt").write_text("no prefix here\n")
    before = {p: os.stat(prefix / p) for p in ("bin/tool", "lib.so", "share/plain.txt")}
    assert _unpack(prefix, "python").stderr == f"conda-unpack: relocated 2 files to {prefix}\n"
    after = {p: os.stat(prefix / p) for p in before}
    assert all(after[p].st_ino == before[p].st_ino for p in before)
    assert after["share/plain.txt"].st_mtime_ns == before["share/plain.txt"].st_mtime_ns
    assert sorted(set(os.listdir(prefix / "conda-meta/condapack")) - {"__pycache__"}) == [
        "prefix", "unpack", "unpack.sh", "unpack.txt"]


def test_a_file_hard_linked_outside_the_environment_is_replaced_not_written_through(tmp_path: Path,
                                                                                    impl: str) -> None:
    prefix = _make_prefix(tmp_path)
    outside = tmp_path / "outside.so"
    os.link(prefix / "lib.so", outside)
    before = outside.read_bytes()
    assert _unpack(prefix, impl).returncode == 0
    assert outside.read_bytes() == before
    assert (prefix / "lib.so").read_bytes().startswith(b"\x7fELF" + str(prefix).encode() + b"/lib\0")
    assert not list(prefix.rglob("*.condapack-*"))


def test_a_running_program_is_relocated(tmp_path: Path, impl: str) -> None:
    prefix = _make_prefix(tmp_path)
    program = Path(shutil.which("sleep") or "/bin/sleep").read_bytes() + b"\0" + OLD.encode() + b"/lib\0" + b"\0" * 200
    (prefix / "lib.so").write_bytes(program)  # a real executable holding the prefix
    (prefix / "lib.so").chmod(0o755)
    _write_manifest(prefix)
    running = subprocess.Popen([str(prefix / "lib.so"), "60"])
    try:
        result = _unpack(prefix, impl)
        assert result.returncode == 0, result.stderr
        assert running.poll() is None
    finally:
        running.kill()
        running.wait()
    assert (prefix / "lib.so").read_bytes() == replace_binary(program, OLD.encode(), str(prefix).encode(),
                                                              PLACEHOLDER_ROOM)


def _assert_relocated(prefix: Path) -> None:
    assert (prefix / "bin/tool").read_text() == f"#!{prefix}/bin/python\nprint('{prefix}')\n"
    lib = b"\x7fELF" + OLD.encode() + b"/lib\0" + b"\0" * PLACEHOLDER_ROOM + b"end"
    assert (prefix / "lib.so").read_bytes() == replace_binary(lib, OLD.encode(), str(prefix).encode(), PLACEHOLDER_ROOM)
    assert _recorded(prefix) == str(prefix)
    assert sorted(p.name for p in prefix.rglob("*.condapack-*")) == []
    assert not (prefix / "conda-meta/condapack/journal").exists()


def _make_linked_prefix(root: Path, linked: bool) -> Path:
    """``_make_prefix``; when ``linked``, lib.so is hard-linked outside, so conda-unpack
    replaces it by a copy written beside it (a temporary file a kill may leave)."""
    prefix = _make_prefix(root)
    if linked:
        os.link(prefix / "lib.so", root / "outside.so")
    return prefix


@pytest.mark.slow  # a run per write, or gigabytes to read: not the edit-test loop's
@pytest.mark.parametrize("linked", [False, True], ids=["in-place", "replaced"])
@pytest.mark.parametrize("mode", ["fail", "kill"])
def test_a_failure_or_kill_at_any_write_leaves_the_files_as_they_were_or_finished_by_the_next_run(
        tmp_path: Path, mode: str, linked: bool) -> None:
    writes = int(_harness(_make_linked_prefix(tmp_path / "count", linked)).stdout.split()[1])
    assert writes >= 8  # journal, two files, state, clean-up
    for at in range(1, writes + 1):
        prefix = _make_linked_prefix(tmp_path / f"run{at}", linked)
        original = _snapshot(prefix)
        result = _harness(prefix, mode, at)
        assert "Traceback" not in result.stderr, (at, result.stderr)
        if "nothing was changed" in result.stderr:
            assert (result.returncode, _snapshot(prefix)) == (1, original), at
        if at % 2 == 0:  # the next run after a move
            prefix = prefix.rename(tmp_path / f"run{at}" / "moved")
        again = _unpack(prefix, "python")
        assert again.returncode == 0, (at, again.stderr)
        _assert_relocated(prefix)
        if linked:
            assert (tmp_path / f"run{at}" / "outside.so").read_bytes() == original["lib.so"][0], at


def _killed_shell_run(prefix: Path) -> None:
    """What a shell conda-unpack killed while preparing leaves: temps beside the files, its mutex."""
    for name in ("bin/tool", "lib.so"):
        (prefix / f"{name}.condapack-unpack").write_bytes(b"half written")
    dead = subprocess.Popen(["true"])
    dead.wait()
    (prefix / "conda-meta/condapack/unpack.mutex").mkdir()
    (prefix / "conda-meta/condapack/unpack.mutex/pid").write_text(str(dead.pid))


def test_the_temps_of_a_killed_run_are_removed_by_the_next(tmp_path: Path, impl: str) -> None:
    prefix = _make_prefix(tmp_path)
    _killed_shell_run(prefix)
    result = _unpack(prefix, impl)
    assert result.returncode == 0, result.stderr
    _assert_relocated(prefix)


# Runs the unpack package counting the lstat calls on temporary names (what looking for leftovers costs).
LOOKUPS = """
import os, runpy, sys
looked = []
def lstat(path, *args, real=os.lstat, **kwargs):
    looked.extend([path] if str(path).endswith(".condapack-unpack") else [])
    return real(path, *args, **kwargs)
os.lstat = lstat
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    print(len(looked))
"""


def _temp_lookups(prefix: Path) -> int:
    result = subprocess.run([sys.executable, "-c", LOOKUPS, str(prefix / "conda-meta/condapack/unpack"),
                             str(prefix)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


def test_temps_are_looked_for_beside_every_file_only_after_a_killed_run(tmp_path: Path) -> None:
    # Every run that is not killed removes its temps before it lets go of the mutex.
    assert _temp_lookups(_make_prefix(tmp_path / "clean")) == 2  # the state files': prefix, pending
    killed = _make_prefix(tmp_path / "killed")
    _killed_shell_run(killed)
    assert _temp_lookups(killed) >= 2 + 2


def test_a_shell_run_that_cannot_write_pending_removes_its_temps(tmp_path: Path) -> None:
    prefix = _make_prefix(tmp_path)
    original = _snapshot(prefix)
    state = prefix / "conda-meta/condapack"
    (state / "pending.condapack-unpack").mkdir()  # where the shell writes "pending" first
    result = _unpack(prefix, "sh")
    assert result.returncode == 1
    assert result.stderr.endswith(f"conda-unpack: error: cannot write {state}/pending; check the permissions "
                                  "of the environment\n")
    assert sorted(p.name for p in prefix.rglob("*.condapack-unpack")) == ["pending.condapack-unpack"]
    assert _snapshot(prefix) == original
    assert not (state / "unpack.mutex").exists()


def _write_manifest(prefix: Path, *extra: Relocatable) -> None:
    """``_make_prefix``'s manifest with more files."""
    lib = (prefix / "lib.so").read_bytes()
    items = [Relocatable("bin/tool", "text"),
             Relocatable("lib.so", "binary", PLACEHOLDER_ROOM, tuple(binary_fields(lib, OLD.encode()))), *extra]
    for path, (data, _mode) in unpack_files(OLD, items, POSIX).items():
        if path.endswith("unpack.txt"):
            (prefix / path).write_bytes(data)


@pytest.mark.slow
def test_a_2_gib_sparse_library_and_a_120_mib_text_file_are_relocated_in_under_100_mib(tmp_path: Path) -> None:
    prefix = _make_prefix(tmp_path)
    string = OLD.encode() + b"/lib\0" + b"\0" * PLACEHOLDER_ROOM
    far = (2 << 30) + 12345
    (prefix / "lib").mkdir()
    (prefix / "share").mkdir()
    with open(prefix / "lib/big.so", "wb") as fh:
        fh.write(b"\x7fELF" + string)
        fh.seek(far)
        fh.write(string + b"end")
    fields = tuple((at + off, length, parts) for at in (4, far)
                   for off, length, parts in binary_fields(string, OLD.encode()))
    line = f"x = '{OLD}/lib'  # {OLD}\n".encode()
    with open(prefix / "share/big.txt", "wb") as fh:
        fh.write(f"#!{OLD}/bin/python\n".encode())
        for _ in range(120):
            fh.write(line * ((1 << 20) // len(line)))
    _write_manifest(prefix, Relocatable("lib/big.so", "binary", PLACEHOLDER_ROOM, fields),
                    Relocatable("share/big.txt", "text"))
    result = _harness(prefix)
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"conda-unpack: relocated 4 files to {prefix}\n"
    assert int(result.stdout.split()[0]) * 1024 < 100 << 20  # VmHWM, kB
    new_string = str(prefix).encode() + b"/lib\0"
    with open(prefix / "lib/big.so", "rb") as fh:
        assert fh.read(4 + len(new_string)) == b"\x7fELF" + new_string
        fh.seek(far)
        assert fh.read(len(string) + 3) == new_string + b"\0" * (len(string) - len(new_string)) + b"end"
    st = os.stat(prefix / "lib/big.so")
    assert (st.st_size, st.st_blocks * 512 < 1 << 20) == (far + len(string) + 3, True)  # still sparse
    new_line = line.replace(OLD.encode(), str(prefix).encode())
    with open(prefix / "share/big.txt", "rb") as fh:
        assert fh.readline() == f"#!{prefix}/bin/python\n".encode()
        assert not holds(iter(lambda: fh.read(1 << 20), b""), OLD.encode())
        fh.seek(-len(new_line), os.SEEK_END)
        assert fh.read() == new_line
    assert os.path.getsize(prefix / "share/big.txt") == len(f"#!{prefix}/bin/python\n") + 120 * (
        (1 << 20) // len(line)) * len(new_line)


def test_a_damaged_journal_is_reported_in_one_line(tmp_path: Path) -> None:
    prefix = _make_prefix(tmp_path)
    journal = prefix / "conda-meta/condapack/journal"
    journal.write_bytes(b'["journal", 1, "/opt/old/env", "/elsewhere"]\n["w", "bin/tool", -1]\n')
    result = _unpack(prefix, "python")
    assert (result.returncode, result.stderr) == (
        1, f"conda-unpack: error: {journal} is damaged (bad record b'[\"w\", \"bin/tool\", -1]\\n'); "
           "unpack the archive again\n")


def test_the_shell_implementation_leaves_a_python_journal_to_python(tmp_path: Path) -> None:
    prefix = _make_prefix(tmp_path)
    assert _harness(prefix, "kill", 5).returncode == -9
    state = prefix / "conda-meta/condapack"
    result = _unpack(prefix, "sh")
    assert (result.returncode, result.stderr) == (
        1, f"conda-unpack: error: {state}/journal was left by an interrupted conda-unpack that used Python; "
           "run conda-unpack without --sh (a Python is needed) to restore the files, then again\n")
    assert not (state / "unpack.mutex").exists()
    assert _unpack(prefix, "python").returncode == 0
    _assert_relocated(prefix)


START_UP = """
import sys
sys.path.insert(0, sys.argv[1])
from unpack import journal
cases = ['[1, 2.5, "x\\u00e9", {"a": null, "b": true}, -0.0, 1e400]', ' \\n{"files": []} \\r\\n', '', ' ', '[1] x',
         '{"a":', '{"a": [1, 2', '["a", "b" "c"]', '[' * 100000, 'NaN', '[Infinity, -Infinity]', '\\ufeff[]',
         '"a\\x01"', '01', '[1,]', 'tru', '"\\\\x"']
def outcome(parse, text):
    try:
        return repr(parse(text))
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__ + ": " + str(exc)
parsed = [outcome(journal.parse_json, text) for text in cases]  # before json is imported: errors included
import json
print([text[:20] for text, got in zip(cases, parsed) if got != outcome(json.loads, text)])
"""


def test_conda_unpacks_json_parser_reads_and_refuses_what_json_does(tmp_path: Path) -> None:
    prefix = _make_prefix(tmp_path)
    result = subprocess.run([sys.executable, "-c", START_UP, str(prefix / "conda-meta/condapack")],
                            capture_output=True, text=True)
    assert (result.returncode, result.stdout, result.stderr) == (0, "[]\n", "")


def test_conda_unpack_imports_neither_re_json_typing_enum_nor_signal(tmp_path: Path) -> None:
    # They would cost more than relocating hundreds of files (an environment's Python may
    # even compile them from source at every run).
    prefix = _make_prefix(tmp_path)
    script = prefix / "conda-meta/condapack/unpack"
    result = subprocess.run([sys.executable, "-X", "importtime", "-B", "-E", "-s", "-S", str(script), str(prefix)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert {"unpack.inplace", "unpack.journal", "unpack.rewrite", "unpack.safepath"} <= imported
    assert imported & {"re", "json", "typing", "enum", "signal"} == set()
    _assert_relocated(prefix)
