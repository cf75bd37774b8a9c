"""One quoting rule per script language: every location round-trips, no name runs a command."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

import condapack
import envkit
from condapack import CondaPackError
from condapack.unpack.quoting import fish_word, location_problem, sh_word
from condapack.unpack.rewrite import SHEBANG_LIMIT, make_shebang, parse_shebang, replace_text
from helpers import HOST_PATH, extract, pack, run
from systools import require

# Pieces of hostile directory names: quotes, expansions, command separators, globs, cmd's
# specials, blanks, non-ASCII. Each `touch cN` is a canary: run in an empty directory, a
# script that lets any of them run leaves a file there.
PIECES = ("'", '"', "$(touch c1)", "`touch c2`", " ", "\t", "%PATH%", "!", "^", "&touch c3&", "|touch c4|",
          ";touch c5;", "*", "?", "[a]", "\\", "\\n", "'''", "é", "ü ö", "$HOME", "${PATH}", "#", "~", "(x)",
          "{a,b}", "-", "=", "$'\\x41'", '"$(touch c6)"', "'$(touch c7)'", "\\'")
POSIX_SHELLS = {"bash": ["bash", "--norc", "--noprofile", "-c"], "dash": ["dash", "-c"],
                "busybox": ["busybox", "sh", "-c"], "zsh": ["zsh", "-f", "-c"]}
# Activate, check where, run an entry point found on PATH, deactivate.
POSIX_CHECK = ('. "$LOC/bin/activate" && printf "%s\\n" "$CONDA_PREFIX" && cpdemo-hello && '
               '. "$LOC/bin/deactivate" && printf "%s\\n" "${CONDA_PREFIX-unset}"')
FISH_CHECK = ("source $LOC/bin/activate.fish; and printf '%s\\n' $CONDA_PREFIX; and cpdemo-hello; "
              "and source $LOC/bin/deactivate.fish; and set -q CONDA_PREFIX; or echo unset")


def hostile_name(rng: random.Random) -> str:
    """One directory name of 1 to 6 hostile pieces."""
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 6)))


def hostile_location(rng: random.Random, root: Path) -> Path:
    """A location below ``root``: one or two hostile names, sometimes past the shebang limit."""
    parts = [hostile_name(rng) for _ in range(rng.randint(1, 2))]
    if rng.random() < 0.3:
        parts.append("l" * 130)
    return root.joinpath(*parts)


# -- the quoting functions, in the shells that read them ----------------------------------


@pytest.mark.parametrize("shell", sorted(POSIX_SHELLS))
def test_sh_word_is_read_back_exactly_by_every_posix_shell(shell: str, tmp_path: Path) -> None:
    require(POSIX_SHELLS[shell][0])
    rng = random.Random(shell)
    texts = [hostile_name(rng) for _ in range(200)]
    script = "".join(f"printf '%s\\0' {sh_word(text)}\n" for text in texts)
    out = subprocess.run([*POSIX_SHELLS[shell], script], capture_output=True, cwd=tmp_path, check=True).stdout
    assert out.decode().split("\0")[:-1] == texts
    assert os.listdir(tmp_path) == []


def test_fish_word_is_read_back_exactly_by_fish(tmp_path: Path) -> None:
    require("fish")
    rng = random.Random("fish")
    texts = [hostile_name(rng) for _ in range(200)]
    script = "".join(f"printf '%s\\0' {fish_word(text)}\n" for text in texts)
    out = subprocess.run(["fish", "-N", "-c", script], capture_output=True, cwd=tmp_path, check=True).stdout
    assert out.decode().split("\0")[:-1] == texts
    assert os.listdir(tmp_path) == []


def test_sh_word_never_holds_three_quotes_nor_a_lone_backslash() -> None:
    rng = random.Random(3)
    for _ in range(2000):
        word = sh_word(hostile_name(rng))
        assert "'''" not in word
        assert word.replace("\\\\", "").count("\\") == 0


def test_trampoline_is_valid_python_without_warnings_and_reads_back() -> None:
    rng = random.Random(4)
    for _ in range(500):
        interp = f"/{hostile_name(rng)}/bin/python3.11".encode()
        header = make_shebang(interp, b" -E")
        too_long = len(b"#!" + interp + b" -E") > SHEBANG_LIMIT
        assert header.startswith(b"#!/bin/sh\n") == (b" " in interp or b"\t" in interp or too_long)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            compile(header + b"x = 1\n", "entry", "exec")
        assert parse_shebang(header + b"x = 1\n") == (interp, b" -E", len(header))


def test_a_python_interpreter_under_a_blank_gets_the_trampoline_at_any_length() -> None:
    out = replace_text(b"#!/old/bin/python3.11\nx\n", b"/old", b"/my envs/app")
    assert out == b"#!/bin/sh\n'''exec' '/my envs/app/bin/python3.11' \"$0\" \"$@\"\n' '''\nx\n"
    assert replace_text(out, b"/my envs/app", b"/srv/app") == b"#!/srv/app/bin/python3.11\nx\n"


def test_a_trampoline_naming_a_quote_is_relocated_again() -> None:
    tricky = b"/it's \\ here"
    out = replace_text(b"#!/old/bin/python\nprint('/old')\n", b"/old", tricky)
    parsed = parse_shebang(out)
    assert parsed is not None and parsed[0] == tricky + b"/bin/python"
    assert replace_text(out, tricky, b"/n") == b"#!/n/bin/python\nprint('/n')\n"


@pytest.mark.parametrize(("path", "windows", "problem"), [
    ("/a\nb", False, "a location with a line break cannot hold an environment"),
    ("/a\rb", False, "a location with a line break cannot hold an environment"),
    ("/a\0b", False, "a location with a NUL byte cannot hold an environment"),
    (os.fsdecode(b"/caf\xe9"), False, "a location that is not UTF-8 cannot hold an environment"),
    ("C:\\a%b!c", True, "a location with '!' or '%' cannot hold a Windows environment: cmd.exe or PATH cannot "
                          "carry it"),
    ("C:\\a^b;c", True, "a location with ';' or '^' cannot hold a Windows environment: cmd.exe or PATH cannot "
                          "carry it"),
])
def test_locations_a_script_language_cannot_carry_are_named(path: str, windows: bool, problem: str) -> None:
    assert location_problem(path, windows) == problem


def test_locations_every_language_carries_pass() -> None:
    assert location_problem("/a'b\"c $(x) `y` %P% !^&|;*\\ é") is None
    assert location_problem("C:\\a 'b' (c) &d, e=f é", windows=True) is None


# -- a real environment moved through hostile locations -----------------------------------


def _env(location: Path) -> dict[str, str]:
    # A UTF-8 locale, as users have: fish in the C locale cannot open a non-ASCII path.
    return {"PATH": HOST_PATH, "HOME": os.environ.get("HOME", "/"), "LOC": str(location), "LC_ALL": "C.UTF-8"}


def _output(argv: list[str], canary: Path, env: dict[str, str] | None = None) -> list[bytes]:
    """The lines ``argv`` printed, as bytes (a location may hold a byte that is not UTF-8)."""
    done = subprocess.run(argv, capture_output=True, cwd=canary, env=env or {"PATH": HOST_PATH})
    assert done.returncode == 0, (argv, done)
    return done.stdout.split(b"\n")


def _check_runs_at(location: Path, canary: Path) -> None:
    """sys.prefix, an entry point, activation in every shell: all name ``location``."""
    loc = os.fsencode(location)
    assert _output([str(location / envkit.PYTHON_BIN), "-c", "import sys; print(sys.prefix)"], canary)[0] == loc
    assert _output([str(location / envkit.ENTRY_POINT)], canary)[0] == loc
    commands = {name: [*argv, POSIX_CHECK] for name, argv in POSIX_SHELLS.items()}
    commands["fish"] = ["fish", "-N", "-c", FISH_CHECK]
    for name, argv in commands.items():
        lines = _output(argv, canary, _env(location))
        assert (lines[:2], lines[3:4]) == ([loc, loc], [b"unset"]), (name, lines)
    assert os.listdir(canary) == [], f"a command in {loc!r} ran"


UNPACKERS = (["python"], ["dash", "--sh"], ["busybox", "sh", "--sh"], ["bash", "--sh"])


def _conda_unpack(location: Path, how: list[str], canary: Path) -> None:
    script = str(location / "bin/conda-unpack")
    argv = [script] if how == ["python"] else [*how[:-1], script, how[-1]]
    run([*argv, "-q"], cwd=canary)


@pytest.mark.slow
def test_an_environment_moved_through_hostile_locations_works_in_every_shell(
        real_env: envkit.EnvFactory, tmp_path: Path) -> None:
    for tool in ("bash", "dash", "busybox", "zsh", "fish"):
        require(tool)
    env = real_env("basic")
    pack(env, tmp_path / "env.tar")
    canary = tmp_path / "canary"
    canary.mkdir()
    rng = random.Random(22)
    here = extract(tmp_path / "env.tar", hostile_location(rng, tmp_path / "first"))
    for step in range(24):
        _conda_unpack(here, UNPACKERS[step % len(UNPACKERS)], canary)
        _check_runs_at(here, canary)
        there = hostile_location(rng, tmp_path / f"move{step}")
        there.parent.mkdir(parents=True, exist_ok=True)
        here = here.rename(there)


#: One location per class of hostile name; test_windows.py moves a Windows environment
#: through the classes cmd.exe can carry (a Windows name holds no tab). A location that is
#: not UTF-8 is refused (Python cannot read a file naming it): see REFUSED below.
HOSTILE_CLASSES = {
    "a blank": "my envs",
    "a tab": "a\tb",
    "quotes": "it's \"q\" '''x",
    "a command substitution": "$(touch c1)",
    "backticks": "`touch c2`",
    "a leading dash": "-rf",
    # Past the shebang limit, up to the room a binary placeholder has (255 bytes: a longer
    # location is refused in one line, "choose a shorter path"): filled in below.
    "a very long path": "",
}


@pytest.mark.slow
def test_an_environment_moved_through_each_class_of_hostile_location_works_in_every_shell(
        real_env: envkit.EnvFactory, tmp_path: Path) -> None:
    for tool in ("bash", "dash", "busybox", "zsh", "fish"):
        require(tool)
    pack(real_env("basic"), tmp_path / "env.tar")
    canary = tmp_path / "canary"
    canary.mkdir()
    here = extract(tmp_path / "env.tar", tmp_path / "first")
    for kind, name in HOSTILE_CLASSES.items():
        for step, how in enumerate(UNPACKERS):  # from the last class's location to this one
            there = tmp_path / f"{len(kind)}-{step}" / (name or "l" * (254 - len(os.fsencode(tmp_path)) - 10)) / "env"
            there.parent.mkdir(parents=True)
            here = here.rename(there)
            _conda_unpack(here, how, canary)
            _check_runs_at(here, canary)
    assert len(os.fsencode(here)) == 254


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): os.readlink(p).encode() if p.is_symlink() else p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_symlink() or p.is_file()}


@pytest.mark.slow
def test_python_and_sh_conda_unpack_write_the_same_bytes_at_hostile_locations(
        real_env: envkit.EnvFactory, tmp_path: Path) -> None:
    pack(real_env("basic"), tmp_path / "env.tar")
    for step in range(4):
        first = hostile_location(random.Random(f"first{step}"), tmp_path / "first")
        second = hostile_location(random.Random(f"second{step}"), tmp_path / "second")
        trees = {}
        for how in (["python"], ["dash", "--sh"]):
            _conda_unpack(extract(tmp_path / "env.tar", first), how, tmp_path)
            second.parent.mkdir(parents=True)
            _conda_unpack(first.rename(second), how, tmp_path)
            trees[how[-1]] = _tree(second)
            shutil.rmtree(tmp_path / "first")
            shutil.rmtree(tmp_path / "second")
        assert trees["--sh"] == trees["python"], (first, second)


@pytest.mark.slow
def test_the_installer_installs_into_hostile_locations(real_env: envkit.EnvFactory, tmp_path: Path) -> None:
    env = real_env("basic")
    installer = tmp_path / "env.sh"
    pack(env, installer)
    canary = tmp_path / "canary"
    canary.mkdir()
    rng = random.Random(23)
    for _ in range(2):
        target = hostile_location(rng, tmp_path / "installed")
        run(["sh", str(installer), "--prefix", str(target), "-q"], cwd=canary)
        _check_runs_at(target, canary)


# -- refused before anything changes -----------------------------------------------------


def _snapshot(root: Path) -> dict[str, object]:
    """Every entry under ``root`` (and ``root``'s siblings): its kind, mode and content."""
    out: dict[str, object] = {}
    for path in sorted(root.parent.rglob("*")):
        st = path.lstat()
        content = os.readlink(path) if path.is_symlink() else path.read_bytes() if path.is_file() else None
        out[str(path.relative_to(root.parent))] = (st.st_mode, st.st_size, content)
    return out


LINE_BREAK = "a location with a line break cannot hold an environment"
NOT_UTF8 = "a location that is not UTF-8 cannot hold an environment"
#: Directory names no unpacker accepts, and why: line breaks; bytes that are not UTF-8
#: (Latin-1, a lone continuation byte, an overlong '/', an encoded surrogate, past U+10FFFF).
REFUSED = {"a\nb": LINE_BREAK, "a\rb": LINE_BREAK, "a\r\n": LINE_BREAK, "\nx": LINE_BREAK,
           **{os.fsdecode(name): NOT_UTF8 for name in (b"caf\xe9", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80",
                                                          b"\xf4\x90\x80\x80")}}


@pytest.mark.parametrize("how", [["python"], ["dash", "--sh"], ["busybox", "sh", "--sh"]])
@pytest.mark.parametrize("where", ["here", "--dest"])
def test_conda_unpack_refuses_a_line_break_or_a_byte_not_utf8_in_one_line_and_changes_nothing(
        real_env: envkit.EnvFactory, tmp_path: Path, how: list[str], where: str) -> None:
    require(how[0])
    env = real_env("basic")
    pack(env, tmp_path / "env.tar")
    for step, (name, problem) in enumerate(REFUSED.items()):
        # "here": the environment itself sits in the directory so named.
        prefix = extract(tmp_path / "env.tar", tmp_path / f"at{step}" / (name if where == "here" else "x"))
        before = _snapshot(prefix)
        script = str(prefix / "bin/conda-unpack")
        argv = [script] if how == ["python"] else [*how[:-1], script, how[-1]]
        dest = ["--dest", str(tmp_path / name)] if where == "--dest" else []
        done = subprocess.run([*argv, *dest], capture_output=True, text=True, cwd=tmp_path)
        assert (done.returncode, done.stdout, done.stderr) == (
            1, "", f"conda-unpack: error: {problem}; choose another location\n"), name
        assert _snapshot(prefix) == before, name


def test_installer_refuses_a_line_break_or_a_byte_not_utf8_before_anything_is_written(
        real_env: envkit.EnvFactory, tmp_path: Path) -> None:
    installer = tmp_path / "env.sh"
    pack(real_env("basic"), installer)
    before = _snapshot(installer)
    for name, problem in REFUSED.items():
        target = tmp_path / name / "env"
        done = subprocess.run(["sh", str(installer), "--prefix", str(target)], capture_output=True, text=True)
        assert (done.returncode, done.stderr) == (1, f"env.sh: error: {problem}; choose another --prefix\n"), name
        assert _snapshot(installer) == before, name


def test_pack_refuses_a_dest_prefix_with_a_line_break(real_env: envkit.EnvFactory, tmp_path: Path) -> None:
    with pytest.raises(CondaPackError) as err:
        condapack.pack(prefix=str(real_env("basic")), output=str(tmp_path / "env.tar"), dest_prefix="/opt/a\nb")
    assert str(err.value) == ("--dest-prefix '/opt/a\\nb': a location with a line break cannot hold an environment; "
                              "choose another")
    assert not (tmp_path / "env.tar").exists()


