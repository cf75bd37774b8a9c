"""Member names: nothing an extractor puts outside its target, nothing Windows cannot hold.

The rule on its own first (members as plain records), then on real win-64 and linux-64
environments with added files, packed in every format that writes names.
"""

from __future__ import annotations

import random
from pathlib import Path

import attrs
import pytest
import winkit

import envkit
from condapack import membernames
from condapack.cli import conda_pack_main
from condapack.errors import EnvError
from condapack.membernames import check_member_names
from helpers import extract, pack, shared_path

HINT = "; leave them out with --exclude PATTERN (exclude in condapack.toml), or rename them"
CLIMBS = "..\\..\\evil.txt"
CLIMBS_REASON = "('..' with '\\' climbs out on Windows)"
WRITERS = ["tar", "tar.gz", "tar.bz2", "tar.xz", "tar.zst", "zip", "squashfs", "no-archive"]
LINUX_WRITERS = [*WRITERS, "parcel", "sh", "sh.xz", "sh.zst"]


@attrs.frozen
class Entry:
    name: str
    kind: str = "file"


def problems(*names: str, windows: bool = True, dirs: tuple[str, ...] = ()) -> str:
    """The error for these names ("" when they pass)."""
    try:
        check_member_names([Entry(n) for n in names] + [Entry(d, "dir") for d in dirs], windows)
    except EnvError as exc:
        return str(exc)
    return ""


@pytest.mark.parametrize("name", [
    "con", "CON", "Con.txt", "aux.tar.gz", "nul", "prn.h", "com1", "COM9.log", "lpt1", "Lpt9.x", "com\u00b9",
    "nul .txt", "lib/aux/x.py", "CONIN$", "conout$.txt", "lib/Conin$/x.py"])
def test_reserved_device_names_are_refused_for_windows_with_any_extension_and_case(name: str) -> None:
    assert problems(name) == (
        f"1 name in the environment cannot be unpacked safely on Windows: {name} (a reserved device name){HINT}")


@pytest.mark.parametrize("name", ["console", "com10", "com0", "lpt", "auxiliary.txt", "x.con", "nul_", "a.b.c"])
def test_names_that_only_resemble_device_names_pass(name: str) -> None:
    assert problems(name) == ""


@pytest.mark.parametrize("name,reason", [
    ("a<b", "holds '<'"), ("a>b", "holds '>'"), ("a:b", "holds ':'"), ('a"b', "holds '\"'"), ("a|b", "holds '|'"),
    ("a?b", "holds '?'"), ("a*b", "holds '*'"), ("a\\b", "holds '\\\\'"), ("end.", "ends with a dot or space"),
    ("end ", "ends with a dot or space"), ("dir./x.txt", "ends with a dot or space"),
    ("dir /x.txt", "ends with a dot or space")])
def test_characters_and_endings_windows_cannot_hold_are_refused_in_any_part(name: str, reason: str) -> None:
    assert problems(name) == (
        f"1 name in the environment cannot be unpacked safely on Windows: {name} ({reason}){HINT}")


def test_control_characters_are_refused_and_shown_escaped_on_the_one_line() -> None:
    assert problems("share/bell\x07.txt", "share/new\nline") == (
        "2 names in the environment cannot be unpacked safely on Windows: 'share/bell\\x07.txt' (holds '\\x07'), "
        f"'share/new\\nline' (holds '\\n'){HINT}")


def test_names_equal_without_regard_to_case_are_refused_for_windows() -> None:
    assert problems("share/A.txt", "share/a.txt", "Lib/X", "lib/x/y") == (
        "2 names in the environment cannot be unpacked safely on Windows: share/A.txt and share/a.txt (equal "
        f"without regard to case), Lib/X and lib/x (equal without regard to case){HINT}")


@pytest.mark.parametrize("first,second", [("I.txt", "\u0131.txt"), ("s", "\u017f"), ("\u039c", "\u00b5"),
                                          ("lib/\u0131", "lib/i/b")])
def test_names_windows_upcases_alike_are_refused_for_windows(first: str, second: str) -> None:
    """Windows compares names by each character's simple uppercase (dotless i is I, long s is S)."""
    one, two = first, second.replace("/b", "")  # a file and a directory: one cannot be made
    assert problems(first, second) == (
        f"1 name in the environment cannot be unpacked safely on Windows: {one} and {two} (equal without regard "
        f"to case){HINT}")


@pytest.mark.parametrize("first,second", [("k", "\u212a"), ("i", "\u0130"), ("ss", "\u00df")])
def test_names_windows_upcases_apart_pass(first: str, second: str) -> None:
    """The Kelvin sign, dotted capital I and sharp s have no simple uppercase of another letter."""
    assert problems(first, second) == ""


def test_directories_spelled_in_two_cases_merge_and_pass() -> None:
    assert problems("Lib/site.py", "lib/other.py", "LIB/x/y", dirs=("lib", "LIB/x/z")) == ""


def test_a_few_names_are_listed_then_how_many_more() -> None:
    assert problems(*(f"share/con{i}.txt{'.' * (i > 2)}" for i in range(10)), "aux") == (
        "8 names in the environment cannot be unpacked safely on Windows: share/con3.txt. (ends with a dot or "
        "space), share/con4.txt. (ends with a dot or space), share/con5.txt. (ends with a dot or space), "
        f"share/con6.txt. (ends with a dot or space) and 4 more{HINT}")


def test_backslash_with_dot_dot_is_refused_in_every_environment_and_the_rest_only_for_windows() -> None:
    names = (f"share/{CLIMBS}", "a\\..", "a\\b", "..x\\y", "A", "a", "con", "a:b", "end.")
    assert problems(*names, windows=False) == (
        f"2 names in the environment cannot be unpacked safely: share/{CLIMBS} {CLIMBS_REASON}, "
        f"a\\.. {CLIMBS_REASON}{HINT}")
    assert problems(*names[2:], windows=False) == ""


def test_the_search_over_all_names_misses_no_name_the_exact_check_refuses() -> None:
    rng = random.Random(22)
    pieces = ["con", "CoM1", "lPt\u00b2", "nul", "aux", "prn", "x", "\u0130", ".", " ", "/", "\\", ":", "\x1f", "\x7f",
              "conIN$", "CONOUT$", "$"]
    for _ in range(3000):
        name = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))).strip("/").replace("//", "/")
        if name and all(part not in ("", ".", "..") for part in name.split("/")):
            assert (problems(name) == "") == (membernames._windows_problems([(name, False)]) == []), name


# --------------------------------------------------------------------------
# real environments, every format
# --------------------------------------------------------------------------

#: Added to the win-64 environment: one of each kind of name Windows refuses, and a case twin.
WIN_ADDED = ("A.txt", "a.txt", "a:b", "aux.txt", "dot./x", CLIMBS)


@pytest.fixture(scope="module")
def win_env(conda_channel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    def create(path: Path) -> None:
        winkit.create_win_env(path, winkit.build_win_channel(), conda_channel)
        for name in WIN_ADDED:
            (path / "share" / "names" / name).parent.mkdir(parents=True, exist_ok=True)
            (path / "share" / "names" / name).write_text(name)

    return shared_path(tmp_path_factory, "names/winenv", create)


#: Added to the linux-64 environment: names only Windows refuses, and one climbing out there.
LINUX_ADDED = ("A.txt", "a.txt", "con", "a:b", "end.", "a\\b", CLIMBS)


@pytest.fixture(scope="module")
def linux_env(conda_channel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    def create(path: Path) -> None:
        envkit.create_env("nopython", path, conda_channel)
        for name in LINUX_ADDED:
            (path / "share" / name).write_text(name)

    return shared_path(tmp_path_factory, "names/linuxenv", create)


@pytest.mark.parametrize("fmt", WRITERS)
def test_a_windows_environment_with_names_windows_cannot_hold_is_refused_in_one_line_before_writing(
        fmt: str, win_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / f"out.{fmt}"
    assert conda_pack_main(["-p", str(win_env), "-o", str(output), "--format", fmt, "-q"]) == 1
    assert capsys.readouterr().err == (
        "CondaPackError: 5 names in the environment cannot be unpacked safely on Windows: "
        f"share/names/{CLIMBS} {CLIMBS_REASON}, share/names/a:b (holds ':'), "
        "share/names/aux.txt (a reserved device name), share/names/dot./x (ends with a dot or space) and 1 more"
        f"{HINT}\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_a_windows_environment_packs_once_the_names_are_excluded(fmt: str, win_env: Path, tmp_path: Path) -> None:
    pack(win_env, tmp_path / f"env.{fmt}", "--exclude", "share/names/*")
    unpacked = extract(tmp_path / f"env.{fmt}", tmp_path / "x")
    assert (unpacked / "python.exe").is_file() and not (unpacked / "share" / "names").exists()


@pytest.mark.parametrize("fmt", LINUX_WRITERS)
def test_a_name_climbing_out_through_backslashes_is_refused_in_a_linux_environment(
        fmt: str, linux_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert conda_pack_main(["-p", str(linux_env), "-o", str(tmp_path / "out"), "--format", fmt, "-q"]) == 1
    assert capsys.readouterr().err == (
        f"CondaPackError: 1 name in the environment cannot be unpacked safely: share/{CLIMBS} {CLIMBS_REASON}"
        f"{HINT}\n")
    assert list(tmp_path.iterdir()) == []


def test_a_linux_environment_keeps_names_only_windows_refuses(linux_env: Path, tmp_path: Path) -> None:
    pack(linux_env, tmp_path / "env.tar", "--exclude", "share/..*")
    unpacked = extract(tmp_path / "env.tar", tmp_path / "x")
    assert {p.name for p in (unpacked / "share").iterdir()} & set(LINUX_ADDED) == set(LINUX_ADDED) - {CLIMBS}
