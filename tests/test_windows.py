"""Windows environments: packed on Linux (cross), unpacked and run under wine."""

from __future__ import annotations

import json
import random
import re
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest
import winkit

import condapack
from condapack.layout import WINDOWS
from condapack.prefix import File
from condapack.relocation import relocatables, unpack_files
from condapack.unpack.manifest import parse
from condapack.unpack.quoting import location_problem
from condapack.unpack.rewrite import replace_windows_binary, windows_forms

#: A path over 100 characters, with spaces and more than one level.
LONG_DIR = "a long place with spaces/" + "deeper directory with spaces " * 3 + "env"


@pytest.fixture(scope="session")
def win_channel() -> Path:
    return winkit.build_win_channel()


@pytest.fixture(scope="session")
def wine() -> winkit.Wine:
    return winkit.wine()


@pytest.fixture
def win_env(win_channel: Path, conda_channel: Path, tmp_path: Path) -> Path:
    return winkit.create_win_env(tmp_path / "built" / "env", win_channel, conda_channel)


def _extract(archive: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(target)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(target, filter="data")
    return target


def _old_prefix_hits(env: Path, old: Path) -> list[str]:
    """Files holding ``old`` (its Linux path, or any Windows spelling, any drive case)."""
    forms = [str(old).encode(), *windows_forms(winkit.wine_path(old).encode())]
    pattern = re.compile(b"|".join(re.escape(f) for f in forms), re.IGNORECASE)
    # Bytecode Python wrote while running from the old place records the source path it
    # was compiled from; Python puts in the real one when it loads it (as on Linux).
    files = (p for p in env.rglob("*") if p.is_file() and p.parent.name != "__pycache__")
    return sorted(str(p.relative_to(env)) for p in files if pattern.search(p.read_bytes()))


#: Run by the check driver after activate.bat: what activation set, printed by Python
#: (UTF-8, where cmd's echo would write the console code page), found on the PATH it set.
_SHOW_ACTIVATED = ("import os; print('PREFIX=' + os.environ['CONDA_PREFIX']); print('PATH=' + os.environ['PATH']); "
                   "[print(k + '=' + v) for k, v in sorted(os.environ.items()) if k.startswith('CPWIN_')]")


def _check_runs_at(wine: winkit.Wine, env: Path, old: Path) -> None:
    """One cmd.exe session (wine starts slowly): the interpreter and both entry points
    without activation, then activate.bat and deactivate.bat. The driver sits beside the
    environment and names it from its own place (%~dp0), so it holds no byte of the
    location: cmd reads a batch file in the console code page, and would run a command
    after a `&` in a location written into a line of it unquoted."""
    where = winkit.wine_path(env)
    driver = env.parent / "check.bat"
    here = f"%~dp0{env.name}"
    driver.write_bytes(
        "@set \"PATH=C:\\windows\\system32;C:\\windows\"\r\n@set \"PYTHONIOENCODING=utf-8\"\r\n"
        f"@\"{here}\\python.exe\" -c \"import sys; print(sys.prefix)\"\r\n"
        f"@\"{here}\\Scripts\\cpdemo-hello.exe\"\r\n"
        f"@\"{here}\\Scripts\\cpextra-hello.exe\"\r\n"
        f"@call \"{here}\\Scripts\\activate.bat\"\r\n"
        f"@python -c \"{_SHOW_ACTIVATED}\"\r\n"
        f"@call \"{here}\\Scripts\\deactivate.bat\"\r\n"
        "@echo \"PREFIX=%CONDA_PREFIX%\"\r\n@echo \"PATH=%PATH%\"\r\n@set CPWIN_ 2>nul || echo no CPWIN_ variables\r\n"
        "@exit /b 0\r\n".encode()
    )
    bins = ";".join(where + d for d in ("", "\\Library\\mingw-w64\\bin", "\\Library\\usr\\bin",
                                           "\\Library\\bin", "\\Scripts", "\\bin"))
    try:
        # Started by its bare name from its directory: `cmd /c "PATH"` drops the quotes
        # around a PATH holding `&` and runs what follows it.
        out = wine.run("cmd", "/c", driver.name, cwd=driver.parent).stdout.splitlines()
    finally:
        driver.unlink()
    assert out == [
        where,  # python.exe: sys.prefix
        where, f"{where}\\Lib\\site-packages\\cpdemo\\__init__.py",  # conda-style entry point
        where,  # pip's distlib launcher
        f"PREFIX={where}", f"PATH={bins};C:\\windows\\system32;C:\\windows",
        "CPWIN_ACTIVE=1",  # from etc\\conda\\activate.d\\cpwin.bat
        f"CPWIN_DATA={where}\\Library\\share\\cpwin",  # from conda-meta\\state
        f"CPWIN_HOME={where}\\Library\\share\\cpwin",
        "CPWIN_RATIO=100%",
        '"PREFIX="', '"PATH=C:\\windows\\system32;C:\\windows"', "no CPWIN_ variables",
    ]
    forward = where.replace("\\", "/")
    assert (env / winkit.WIN_TEXT_FILES[1]).read_bytes().decode() == f"data={forward}/Library/share/cpwin\r\n"
    assert (env / winkit.WIN_BACKSLASH_FILE).read_bytes().decode() == f"[paths]\r\ndata={where}\\Library\\share\r\n"
    assert json.loads((env / winkit.WIN_JSON_FILE).read_text()) == {"home": f"{where}\\etc"}
    assert _old_prefix_hits(env, old) == []
    assert not (env / "conda-meta" / "condapack" / "__pycache__").exists()


def test_windows_env_packed_on_linux_gets_the_windows_layout(win_env: Path, tmp_path: Path) -> None:
    out = condapack.pack(prefix=str(win_env), output=str(tmp_path / "env.zip"))
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        manifest = parse(zf.read("conda-meta/condapack/unpack.txt"))
        recorded = zf.read("conda-meta/condapack/prefix").decode()
    assert {"Scripts/activate.bat", "Scripts/deactivate.bat", "Scripts/conda-unpack.exe",
            "Scripts/conda-unpack-script.py", "conda-meta/condapack/unpack/__main__.py"} <= names
    assert not any(name.startswith("bin/") for name in names)
    # Only the Python conda-unpack runs on Windows: no shell one.
    assert "conda-meta/condapack/unpack.sh" not in names
    assert recorded == winkit.wine_path(win_env)
    assert manifest.windows is True
    assert [entry.path for entry in manifest.entries] == sorted(
        [*winkit.WIN_TEXT_FILES, winkit.WIN_PIP_SCRIPT, winkit.WIN_BACKSLASH_FILE, winkit.WIN_JSON_FILE,
         "conda-meta/state"])


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_windows_env_unpacks_runs_and_moves_under_wine(
    fmt: str, win_env: Path, wine: winkit.Wine, tmp_path: Path
) -> None:
    archive = condapack.pack(prefix=str(win_env), output=str(tmp_path / f"env.{fmt}"))
    for place in ("short", LONG_DIR):
        env = _extract(Path(archive), tmp_path / place)
        unpacked = wine.run(winkit.wine_path(env / "Scripts" / "conda-unpack.exe"))
        assert unpacked.stderr == f"conda-unpack: relocated 6 files to {winkit.wine_path(env)}\n"
        _check_runs_at(wine, env, win_env)
    moved = tmp_path / "moved again"
    shutil.move(str(tmp_path / "short"), moved)
    wine.run(winkit.wine_path(moved / "Scripts" / "conda-unpack.exe"), "-q")
    _check_runs_at(wine, moved, tmp_path / "short")
    again = wine.run(winkit.wine_path(moved / "Scripts" / "conda-unpack.exe"))
    assert again.stderr == f"conda-unpack: {winkit.wine_path(moved)} is already set up for this location\n"


def test_windows_env_unpacks_at_a_path_over_260_characters_with_non_ascii_names(
    win_env: Path, wine: winkit.Wine, tmp_path: Path
) -> None:
    archive = condapack.pack(prefix=str(win_env), output=str(tmp_path / "env.zip"))
    env = _extract(Path(archive), tmp_path.joinpath(*["ünïcødé directory " + "x" * 50] * 4, "env"))
    where = winkit.wine_path(env)
    assert len(where) > 260
    # CPython cannot start from a path that long under wine (nor on Windows without
    # LongPathsEnabled), so a Python elsewhere on the host runs the script, as it may.
    host_python = winkit.wine_path(winkit.windows_python_for_condapack() / "python.exe")
    unpacked = wine.run(host_python, "-X", "utf8", winkit.wine_path(env / "Scripts" / "conda-unpack-script.py"))
    assert unpacked.stderr == f"conda-unpack: relocated 6 files to {where}\n"
    assert (env / winkit.WIN_BACKSLASH_FILE).read_bytes().decode() == f"[paths]\r\ndata={where}\\Library\\share\r\n"
    assert b"#!" + where.encode() + b"\\python.exe\r\n" in (env / winkit.WIN_PIP_SCRIPT).read_bytes()
    assert _old_prefix_hits(env, win_env) == []
    manifest = parse((env / "conda-meta" / "condapack" / "unpack.txt").read_bytes())
    assert (env / "conda-meta" / "condapack" / "prefix").read_text() == where
    assert [entry.path for entry in manifest.entries if b"\\\\?\\" in (env / entry.path).read_bytes()] == []


def _binary_with_the_prefix(prefix: str) -> bytes:
    escaped, backslash, forward = windows_forms(prefix.encode())
    return (b"MZ\0" + backslash + b"\\bin;" + forward + b"/lib\0" + b"\0" * 40 + b"x" + escaped + b"\0" * 250
            + b"tail")


def test_conda_unpack_on_windows_patches_binary_fields_in_their_own_spelling_after_every_move(
    wine: winkit.Wine, tmp_path: Path
) -> None:
    # No package of the test environments has a binary placeholder on Windows: a
    # hand-made prefix holds one, with the manifest condapack writes for it.
    old = "C:\\placeholder\\" + "_" * 180 + "\\env"
    env = tmp_path / "env"
    (env / "Library" / "bin").mkdir(parents=True)
    (env / "Library" / "bin" / "tool.dll").write_bytes(_binary_with_the_prefix(old))
    size = len(_binary_with_the_prefix(old))
    files = [File(str(env / "Library" / "bin" / "tool.dll"), "Library/bin/tool.dll", file_mode="binary",
                  capacity=len(old))]
    for path, (data, _mode) in unpack_files(old, relocatables(old, files, [], windows=True), WINDOWS).items():
        (env / path).parent.mkdir(parents=True, exist_ok=True)
        (env / path).write_bytes(data)
    python = winkit.wine_path(winkit.windows_python_for_condapack() / "python.exe")
    for place in (env, tmp_path / "moved"):
        if place != env:
            shutil.move(str(env), place)
        where = winkit.wine_path(place)
        script = winkit.wine_path(place / "conda-meta" / "condapack" / "unpack")
        assert wine.run(python, "-X", "utf8", script, where).stderr == f"conda-unpack: relocated 1 files to {where}\n"
        patched = (place / "Library" / "bin" / "tool.dll").read_bytes()
        assert len(patched) == size
        assert all(form in patched for form in windows_forms(where.encode()))
        assert patched == replace_windows_binary(_binary_with_the_prefix(old), old.encode(), where.encode(), len(old))
        assert (place / "conda-meta" / "condapack" / "prefix").read_text() == where


def test_windows_dest_prefix_is_written_in_every_spelling(win_env: Path, tmp_path: Path) -> None:
    out = condapack.pack(prefix=str(win_env), output=str(tmp_path / "env.zip"), dest_prefix="C:/opt/app")
    env = _extract(Path(out), tmp_path / "x")
    assert (env / winkit.WIN_TEXT_FILES[0]).read_bytes().decode() == "prefix=C:/opt/app\r\n"
    assert (env / winkit.WIN_BACKSLASH_FILE).read_bytes().decode() == "[paths]\r\ndata=C:\\opt\\app\\Library\\share\r\n"
    assert json.loads((env / winkit.WIN_JSON_FILE).read_text()) == {"home": "C:\\opt\\app\\etc"}
    assert b"#!C:\\opt\\app\\python.exe\r\n" in (env / winkit.WIN_PIP_SCRIPT).read_bytes()
    assert not (env / "Scripts" / "conda-unpack.exe").exists()
    assert _old_prefix_hits(env, win_env) == []



def test_windows_env_refuses_a_posix_dest_prefix(win_env: Path, tmp_path: Path) -> None:
    with pytest.raises(condapack.CondaPackError) as err:
        condapack.pack(prefix=str(win_env), output=str(tmp_path / "env.zip"), dest_prefix="/opt/app")
    assert str(err.value) == (
        "--dest-prefix '/opt/app': this environment is for Windows; give a Windows path such as C:\\opt\\app"
    )
    assert not (tmp_path / "env.zip").exists()


#: Pieces of directory names cmd.exe treats specially but can quote (`&`, parentheses,
#: quotes, `=`, `,`, a command after `&`), and non-ASCII ones.
CMD_PIECES = ("&", " ", "(x)", "'", "=", ",", "&echo CANARY&", "$HOME", "`", "#", "~", "-", "{a,b}", "[a]", "@", "+",
              "é", "ü ö", "Ω")
#: What cmd.exe cannot quote in a location (or a PATH entry cannot hold): refused.
CMD_UNQUOTABLE = ("%", "%PATH%", "!", "!x!", "^", "^&echo CANARY", ";")


def _files(env: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in env.rglob("*") if p.is_file()}


def _unpacks_or_refuses_unchanged(wine: winkit.Wine, env: Path) -> bool:
    """conda-unpack.exe at ``env``: whether it relocated; a location cmd cannot quote is
    refused in one line (asserted), and no file changes."""
    problem = location_problem(winkit.wine_path(env), windows=True)
    before = _files(env)
    unpacked = wine.run(winkit.wine_path(env / "Scripts" / "conda-unpack.exe"), "-q", check=False)
    if problem is None:
        assert (unpacked.returncode, unpacked.stderr) == (0, "")
        return True
    if ";" in str(env):
        # wine's loader reads the executable's directory as a ';'-separated search list:
        # python313.dll is not found there and python.exe exits 53 before any code runs.
        assert (unpacked.returncode, unpacked.stderr) == (53, "")
    else:
        refusal = f"conda-unpack: error: {problem}; choose another location\n"
        assert (unpacked.returncode, unpacked.stderr) == (1, refusal)
    assert _files(env) == before
    return False


def test_windows_env_moved_through_hostile_locations_runs_and_activates_or_is_refused_unchanged(
    win_env: Path, wine: winkit.Wine, tmp_path: Path
) -> None:
    archive = condapack.pack(prefix=str(win_env), output=str(tmp_path / "env.zip"))
    rng = random.Random(22)
    pieces = CMD_PIECES + CMD_UNQUOTABLE
    # The first name: a leading dash, a command substitution and every piece cmd can quote.
    names = ["-" + "".join(CMD_PIECES) + "$(echo CANARY)x"]
    names += ["".join(rng.choice(pieces) for _ in range(3)) + "x" for _ in range(4)]
    old, env, outcomes = win_env, _extract(Path(archive), tmp_path / "first" / "env"), []
    for step, name in enumerate(names):
        place = tmp_path / f"at{step}" / name / "env"
        place.parent.mkdir(parents=True)
        env = Path(shutil.move(str(env), place))
        outcomes.append(_unpacks_or_refuses_unchanged(wine, env))
        if outcomes[-1]:
            _check_runs_at(wine, env, old)
            old = env
    # The seed draws both kinds, and a ';' (refused, but python.exe does not start there).
    assert outcomes == [True, True, False, False, False]
    assert ";" in names[-1]


def test_windows_conda_unpack_refuses_a_location_cmd_cannot_quote_and_changes_nothing(
    win_env: Path, wine: winkit.Wine, tmp_path: Path
) -> None:
    archive = condapack.pack(prefix=str(win_env), output=str(tmp_path / "env.zip"))
    env = _extract(Path(archive), tmp_path / "100% ^ready!" / "env")
    before = _files(env)
    refused = wine.run(winkit.wine_path(env / "Scripts" / "conda-unpack.exe"), check=False)
    assert (refused.returncode, refused.stderr) == (1, (
        "conda-unpack: error: a location with '!' or '%' or '^' cannot hold a Windows environment: cmd.exe or "
        "PATH cannot carry it; choose another location\n"))
    assert _files(env) == before


def test_windows_env_refuses_a_dest_prefix_cmd_cannot_quote(win_env: Path, tmp_path: Path) -> None:
    with pytest.raises(condapack.CondaPackError) as err:
        condapack.pack(prefix=str(win_env), output=str(tmp_path / "env.zip"), dest_prefix="C:\\100%")
    assert str(err.value) == ("--dest-prefix 'C:\\\\100%': a location with '%' cannot hold a Windows environment: "
                              "cmd.exe or PATH cannot carry it; choose another")
    assert not (tmp_path / "env.zip").exists()


def test_windows_env_refuses_the_sh_installer_format(win_env: Path, tmp_path: Path) -> None:
    with pytest.raises(condapack.CondaPackError) as err:
        condapack.pack(prefix=str(win_env), output=str(tmp_path / "env.sh"), format="sh")
    assert str(err.value) == (
        "format sh makes a POSIX shell installer, and this is a Windows environment; "
        "use zip or tar.gz and run Scripts\\conda-unpack.exe after extracting"
    )
    assert not (tmp_path / "env.sh").exists()


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_windows_env_packed_under_wine_is_byte_identical_to_the_linux_cross_pack(
    fmt: str, win_env: Path, wine: winkit.Wine, tmp_path: Path
) -> None:
    # The same bytes behave the same: what the test above proves of the Linux-packed
    # archive holds for this one.
    linux = Path(condapack.pack(prefix=str(win_env), output=str(tmp_path / f"linux.{fmt}")))
    target = tmp_path / "out dir" / f"windows.{fmt}"
    target.parent.mkdir()
    target.write_bytes(b"an older archive, replaced atomically")
    packed = winkit.run_condapack_on_windows(
        wine, "-p", winkit.wine_path(win_env), "-o", winkit.wine_path(target), "--force", "--quiet")
    assert packed.stderr == ""
    assert target.read_bytes() == linux.read_bytes()
    assert sorted(p.name for p in target.parent.iterdir()) == [f"windows.{fmt}"]


def _packs_under_wine(wine: winkit.Wine, env: Path, target: Path, forces: tuple[bool, ...],
                      held_open: bool = False) -> list[str]:
    """condapack.pack by wine's CPython, once per ``forces`` entry: what each said
    ('packed' or its error), while the program holds ``target`` open if ``held_open``."""
    code = (
        "import condapack\n"
        # Windows' default sharing: no delete, no rename over
        + ("with open(sys.argv[2], 'rb'):\n" if held_open else "if True:\n")
        + f"    for force in {forces!r}:\n"
        "        try:\n"
        "            condapack.pack(prefix=sys.argv[1], output=sys.argv[2], force=force)\n"
        "            print('packed')\n"
        "        except condapack.CondaPackError as exc:\n"
        "            print(exc)\n"
    )
    return winkit.run_windows_python(wine, code, winkit.wine_path(env), winkit.wine_path(target)).stdout.splitlines()


def test_windows_output_held_open_by_another_program_is_a_clear_error(
    win_env: Path, wine: winkit.Wine, tmp_path: Path
) -> None:
    target = tmp_path / "env.zip"
    target.write_bytes(b"the previous archive")
    assert _packs_under_wine(wine, win_env, target, (True,), held_open=True) == [
        f"cannot replace '{winkit.wine_path(target)}': it is open in another program or not writable; "
        "close it or fix its permissions, then pack again"
    ]
    assert target.read_bytes() == b"the previous archive"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["built", "env.zip"]


def test_windows_env_whose_install_location_cannot_be_recovered_is_a_clear_error(
    win_env: Path, tmp_path: Path
) -> None:
    for name in winkit.WIN_TEXT_FILES:  # the only files with a text placeholder, edited
        (win_env / name).write_text("edited by hand\n")
    with pytest.raises(condapack.CondaPackError) as err:
        condapack.pack(prefix=str(win_env), output=str(tmp_path / "env.zip"))
    assert str(err.value) == (
        f"{win_env}: cannot tell where this Windows environment was installed (no file with a "
        "text prefix placeholder still holds it); pack it on Windows"
    )


def test_windows_env_var_cmd_cannot_set_is_a_clear_error(win_env: Path, tmp_path: Path) -> None:
    (win_env / "conda-meta" / "state").write_text(json.dumps({"env_vars": {"GREETING": 'say "hi"'}}))
    with pytest.raises(condapack.CondaPackError) as err:
        condapack.pack(prefix=str(win_env), output=str(tmp_path / "env.zip"))
    assert str(err.value) == (
        "environment variable 'GREETING' holds a quote or a line break, which cmd.exe cannot set; "
        "change it with `conda env config vars set` and pack again"
    )
    assert not (tmp_path / "env.zip").exists()


def test_windows_pack_under_wine_sweeps_a_killed_runs_temp_and_never_overwrites_without_force(
    win_env: Path, wine: winkit.Wine, tmp_path: Path
) -> None:
    target = tmp_path / "out" / "env.zip"
    target.parent.mkdir()
    stale = target.parent / ".env.zip.0123abcd.part"  # what a killed pack leaves
    stale.write_bytes(b"half an archive")
    # The first is published by a hard link (no overwrite), which NTFS has too.
    assert _packs_under_wine(wine, win_env, target, (False, False, True)) == [
        "packed", f"File '{winkit.wine_path(target)}' already exists; pass --force to overwrite it", "packed"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["env.zip"]
    assert target.read_bytes() == Path(condapack.pack(prefix=str(win_env), output=str(tmp_path / "l.zip"))).read_bytes()


def _unpacked(win_env: Path, tmp_path: Path) -> Path:
    archive = condapack.pack(prefix=str(win_env), output=str(tmp_path / "env.zip"))
    return _extract(Path(archive), tmp_path / "unpacked")


def test_windows_conda_unpack_refuses_a_manifest_path_out_of_the_environment(
    win_env: Path, wine: winkit.Wine, tmp_path: Path
) -> None:
    env = _unpacked(win_env, tmp_path)
    manifest_path = env / "conda-meta" / "condapack" / "unpack.txt"
    canary = tmp_path / "canary.txt"
    canary.write_text(winkit.wine_path(win_env))
    manifest_path.write_text(manifest_path.read_text() + "t ..\\134canary.txt\n")
    result = wine.run(winkit.wine_path(env / "Scripts" / "conda-unpack.exe"), check=False)
    assert (result.returncode, result.stderr) == (1, (
        f"conda-unpack: error: {winkit.wine_path(manifest_path)} is malformed (file '..\\canary.txt' may not "
        "contain '..', got '..\\\\canary.txt'); unpack the archive again\n"))
    assert canary.read_text() == winkit.wine_path(win_env)
    assert _old_prefix_hits(env, win_env)  # nothing was relocated


def test_windows_conda_unpack_takes_over_a_dead_runs_mutex_and_removes_its_temps(
    win_env: Path, wine: winkit.Wine, tmp_path: Path
) -> None:
    env = _unpacked(win_env, tmp_path)
    mutex = env / "conda-meta" / "condapack" / "unpack.mutex"
    mutex.mkdir()
    (mutex / "pid").write_text("4000000")  # no such process (Windows pids are multiples of 4)
    temp = env / (winkit.WIN_TEXT_FILES[0] + ".condapack-unpack")
    temp.write_text("half written by a killed run")
    result = wine.run(winkit.wine_path(env / "Scripts" / "conda-unpack.exe"))
    assert result.stderr == f"conda-unpack: relocated 6 files to {winkit.wine_path(env)}\n"
    assert not mutex.exists() and not temp.exists()
    assert _old_prefix_hits(env, win_env) == []
