"""The drop-in promise, tested differentially: the same API calls and command lines against
condapack and conda-pack 0.9.2 (the reference, pinned in tox.ini) on the same environments.

Results must agree (exit codes, error types, file lists with ``is_conda``, ``file_mode``
and ``prefix_placeholder``, archive members) except for the deliberate differences of
``docs/differences.md``. Each allowed difference is encoded once, below, under the name
of its row in that table; a new difference needs a new row there first.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any, Callable, Optional

import conda_pack
import pytest

import condapack
from condapack.environment import CondaEnv

# -- the differences of docs/differences.md, encoded once ---------------------------------

#: Row "Extra files in the archive": condapack's conda-unpack (two implementations, its
#: manifests and modules) lives in conda-meta/condapack/; it adds deactivate.fish beside
#: conda-pack's activate.fish. conda-pack's conda-unpack imports a progress-bar module.
OURS_ONLY_MEMBERS = re.compile(r"conda-meta/condapack/.*|bin/deactivate\.fish")
REFERENCE_ONLY_MEMBERS = frozenset({"bin/conda_unpack_progress.py"})

#: Row "Prefixes are found when the environment is read": where conda-pack says
#: ``file_mode="unknown"`` (look at the bytes when packing), condapack has already looked
#: and says what it found: no prefix (None), or "text"/"binary" with a placeholder.
RESOLVED_AT_READ_TIME = ("unknown", None)

#: Row "conda's history": conda-pack keeps ``conda-meta/history`` as written, naming the
#: prefix conda created the environment at; condapack relocates it like any text file.
RELOCATED_HISTORY = "conda-meta/history"

# -- the environments both tools run on ---------------------------------------------------

#: id -> (fixture, argument): the fixture is a factory called with the argument and
#: returning a prefix: rattler-created scenarios of envkit, and environments that a real
#: conda created (python, pip, a noarch: python package, a C package, a pip-installed
#: project; skipped, naming why, where no conda is available).
ENVIRONMENTS: dict[str, tuple[str, str]] = {
    "rattler-basic": ("real_env", "basic"),
    "rattler-pip-unmanaged": ("real_env", "pip_unmanaged"),
    "rattler-nopython": ("real_env", "nopython"),
    "rattler-uncached": ("real_env", "uncached"),
    "conda-26.7.1": ("conda_env", "26.7.1"),
    "conda-24.11.3": ("conda_env", "24.11.3"),
}


@pytest.fixture(params=sorted(ENVIRONMENTS))
def same_env(request: pytest.FixtureRequest, conda_channel: Path) -> Path:
    """One environment that both tools are run on (an end-to-end test's: see conftest)."""
    fixture, argument = ENVIRONMENTS[request.param]
    make: Callable[[str], Path] = request.getfixturevalue(fixture)
    return make(argument)


# -- helpers --------------------------------------------------------------------------------

Metadata = tuple[bool, Optional[str], Optional[str]]


def _metadata(env: Any) -> dict[str, Metadata]:
    """Each file's (is_conda, file_mode, prefix_placeholder) by target, as either tool reports it."""
    return {f.target: (f.is_conda, f.file_mode, f.prefix_placeholder) for f in env.files}


def _agrees(target: str, ours: Metadata, reference: Metadata) -> bool:
    """Whether condapack's metadata of one file is conda-pack's, but for the listed differences."""
    if target == RELOCATED_HISTORY and ours[1] == "text":
        ours = (ours[0], None, None)
    if reference[1:] == RESOLVED_AT_READ_TIME:
        return ours[0] == reference[0] and ours[1] in (None, "text", "binary")
    return ours == reference


def _members(archive: str) -> set[str]:
    """The names of an archive's files and links (directories differ in how each tool lists them)."""
    if archive.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            return {name for name in zf.namelist() if not name.endswith("/")}
    with tarfile.open(archive) as tf:
        return {m.name for m in tf.getmembers() if not m.isdir()}


def _comparable(members: set[str], only: Callable[[str], object]) -> set[str]:
    """The members but those only one tool writes (``only``: one of the rows above)."""
    return {name for name in members if not only(name)}


def _raised(call: Callable[..., object], *args: object) -> Optional[BaseException]:
    try:
        call(*args)
    except Exception as exc:  # noqa: BLE001 - the type is what is compared
        return exc
    return None


# -- the API's shape -----------------------------------------------------------------------

def _parameters(func: Callable[..., object]) -> list[tuple[str, object, object]]:
    """The parameters a caller may pass by position: conda-pack has no other kind."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(func).parameters.values()
            if p.kind is not inspect.Parameter.KEYWORD_ONLY]


@pytest.mark.parametrize("name", ["pack", "CondaEnv.pack", "CondaEnv.__init__", "File.__init__",
                                  "CondaEnv.exclude", "CondaEnv.include"])
def test_public_signatures_are_conda_packs_with_condapacks_extras_keyword_only(name: str) -> None:
    ours: Any = condapack
    reference: Any = conda_pack
    for part in name.split("."):
        ours, reference = getattr(ours, part), getattr(reference, part)
    assert _parameters(ours) == _parameters(reference)
    assert _parameters(reference) == [(p.name, p.kind, p.default)
                                      for p in inspect.signature(reference).parameters.values()]


def test_from_prefix_takes_every_keyword_conda_packs_environment_loader_takes() -> None:
    loader = inspect.signature(conda_pack.core.load_environment).parameters
    ours = inspect.signature(CondaEnv.from_prefix).parameters
    for name, param in loader.items():
        if name != "prefix":
            assert ours[name].default == param.default and ours[name].kind is inspect.Parameter.KEYWORD_ONLY


def test_the_exception_root_is_conda_packs_name() -> None:
    assert condapack.CondaPackException is condapack.CondaPackError
    assert issubclass(condapack.errors.EnvError, condapack.CondaPackException)


def test_a_file_has_conda_packs_attributes_and_defaults() -> None:
    ours = condapack.File("/src/a.txt", "share/a.txt")
    reference = conda_pack.File("/src/a.txt", "share/a.txt")
    for attribute in ("source", "target", "is_conda", "file_mode", "prefix_placeholder"):
        assert getattr(ours, attribute) == getattr(reference, attribute), attribute


# -- reading an environment -----------------------------------------------------------------

def test_both_read_the_same_files_with_the_same_metadata(same_env: Path) -> None:
    ours = condapack.CondaEnv.from_prefix(str(same_env), on_missing_cache="ignore")
    reference = conda_pack.CondaEnv.from_prefix(str(same_env), on_missing_cache="ignore")
    assert (ours.prefix, ours.name, len(ours)) == (reference.prefix, reference.name, len(reference))
    ours_meta, reference_meta = _metadata(ours), _metadata(reference)
    assert sorted(ours_meta) == sorted(reference_meta)
    disagree = {t: (ours_meta[t], reference_meta[t]) for t in ours_meta
                if not _agrees(t, ours_meta[t], reference_meta[t])}
    assert disagree == {}


def test_conda_meta_files_are_condas_and_the_history_is_relocated(conda_env: Callable[[str], Path]) -> None:
    ours = condapack.CondaEnv.from_prefix(str(conda_env("26.7.1")))
    meta = {f.target: f for f in ours.files if f.target.startswith("conda-meta/") and f.target.count("/") == 1}
    assert meta["conda-meta/created_at"].is_conda is False
    assert all(f.is_conda for target, f in meta.items() if target.endswith(".json") or target == "conda-meta/history")
    assert (meta["conda-meta/history"].file_mode, meta["conda-meta/history"].prefix_placeholder) == \
        ("text", ours.prefix)


def test_exclude_and_include_select_the_same_files_and_return_new_environments(same_env: Path) -> None:
    envs = [tool.CondaEnv.from_prefix(str(same_env), on_missing_cache="ignore") for tool in (condapack, conda_pack)]
    filtered = [env.exclude("*.pyc").exclude("bin/*").include("bin/python*") for env in envs]
    ours, reference = ({f.target for f in env.files} for env in filtered)
    assert ours == reference
    assert all(len(env) != len(original) for env, original in zip(filtered, envs))


# -- packing -----------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["tar", "zip"])
def test_both_pack_the_same_members_from_a_positional_pack(same_env: Path, tmp_path: Path, suffix: str) -> None:
    ours = condapack.CondaEnv.from_prefix(str(same_env), on_missing_cache="ignore").pack(
        str(tmp_path / f"ours.{suffix}"))
    reference = conda_pack.CondaEnv.from_prefix(str(same_env), on_missing_cache="ignore").pack(
        str(tmp_path / f"reference.{suffix}"))
    assert ours == os.path.abspath(tmp_path / f"ours.{suffix}")
    assert _comparable(_members(ours), OURS_ONLY_MEMBERS.fullmatch) == \
        _comparable(_members(reference), REFERENCE_ONLY_MEMBERS.__contains__)


def test_a_caller_built_environment_packs_like_conda_pack_packs_it(same_env: Path, tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text(f"installed at {same_env}\n")
    archives = {}
    for tool in (condapack, conda_pack):
        env = tool.CondaEnv.from_prefix(str(same_env), on_missing_cache="ignore").exclude("*.pyc")
        files = [*env.files, tool.File(str(note), "share/note.txt", is_conda=False, file_mode="unknown")]
        archives[tool.__name__] = tool.CondaEnv(str(same_env), files).pack(
            output=str(tmp_path / f"{tool.__name__}.tar"))
    for tool, archive in archives.items():
        moved = tmp_path / f"{tool}-unpacked"
        with tarfile.open(archive) as tf:
            tf.extractall(moved, filter="tar")
        subprocess.run([str(moved / "bin/conda-unpack")], check=True, capture_output=True)
        assert (moved / "share/note.txt").read_text() == f"installed at {moved}\n", tool
    assert _comparable(_members(archives["condapack"]), OURS_ONLY_MEMBERS.fullmatch) == \
        _comparable(_members(archives["conda_pack"]), REFERENCE_ONLY_MEMBERS.__contains__)


# -- errors ----------------------------------------------------------------------------------

#: API calls that must fail alike: a CondaPackException from both (condapack's subclasses
#: of it say which kind), or both succeed.
FAILING_CALLS: dict[str, Callable[[Any, Path, Path], object]] = {
    "missing prefix": lambda tool, env, tmp: tool.CondaEnv.from_prefix(str(tmp / "nowhere")),
    "not an environment": lambda tool, env, tmp: tool.CondaEnv.from_prefix(str(tmp)),
    "name and prefix": lambda tool, env, tmp: tool.pack(name="x", prefix=str(env)),
    "unknown format": lambda tool, env, tmp: tool.pack(prefix=str(env), output=str(tmp / "x.tar"), format="rar"),
    "unknown suffix": lambda tool, env, tmp: tool.pack(prefix=str(env), output=str(tmp / "x.rar")),
    "unknown filter": lambda tool, env, tmp: tool.pack(prefix=str(env), output=str(tmp / "x.tar"),
                                                       filters=[("drop", "*")]),
    "parcel with a dest prefix": lambda tool, env, tmp: tool.pack(prefix=str(env), output=str(tmp / "x.parcel"),
                                                                  dest_prefix="/opt/x"),
    "parcel name with a dash": lambda tool, env, tmp: tool.pack(prefix=str(env), format="parcel",
                                                                output=str(tmp / "x.parcel"), parcel_name="a-b"),
    "output exists": lambda tool, env, tmp: tool.pack(prefix=str(env), output=str(tmp / "exists.tar")),
    "output directory missing": lambda tool, env, tmp: tool.pack(prefix=str(env), output=str(tmp / "no/x.tar")),
}


@pytest.mark.parametrize("call", FAILING_CALLS)
def test_failing_calls_raise_conda_pack_exception_from_both(real_env: Callable[[str], Path], tmp_path: Path,
                                                            call: str) -> None:
    env = real_env("basic")
    (tmp_path / "exists.tar").write_bytes(b"")
    raised = {tool.__name__: _raised(FAILING_CALLS[call], tool, env, tmp_path) for tool in (conda_pack, condapack)}
    assert isinstance(raised["conda_pack"], conda_pack.CondaPackException), raised
    assert isinstance(raised["condapack"], condapack.CondaPackException), raised


@pytest.mark.parametrize("scenario", ["missing_files", "editable"])
def test_environments_conda_pack_refuses_are_refused_with_the_same_exception(real_env: Callable[[str], Path],
                                                                             scenario: str) -> None:
    env = str(real_env(scenario))
    assert isinstance(_raised(conda_pack.CondaEnv.from_prefix, env), conda_pack.CondaPackException)
    assert isinstance(_raised(condapack.CondaEnv.from_prefix, env), condapack.CondaPackException)
    for tool in (condapack, conda_pack):
        assert len(tool.CondaEnv.from_prefix(env, ignore_missing_files=True, ignore_editable_packages=True)) > 0


def test_records_without_link_are_read_where_conda_pack_fails(real_env: Callable[[str], Path]) -> None:
    """Row "Environments conda-pack cannot read"."""
    env = str(real_env("no_history"))
    assert isinstance(_raised(conda_pack.CondaEnv.from_prefix, env), KeyError)
    assert len(condapack.CondaEnv.from_prefix(env)) > 0


# -- the command line ------------------------------------------------------------------------

COMMANDS = {
    "condapack": [sys.executable, "-c", "from condapack.cli import conda_pack_entry; conda_pack_entry()"],
    "conda_pack": [sys.executable, "-m", "conda_pack.cli"],
}

#: Command lines (ENV: the environment, OUT: a fresh output directory) and what both exit with.
COMMAND_LINES = {
    "pack": ["-p", "ENV", "-o", "OUT/env.tar"],
    "pack quietly with filters": ["-p", "ENV", "-o", "OUT/env.zip", "-q", "--exclude", "*.pyc",
                                  "--include", "bin/*", "--n-threads", "2"],
    "output exists": ["-p", "ENV", "-o", "OUT/exists.tar"],
    "overwrite with force": ["-p", "ENV", "-o", "OUT/exists.tar", "--force"],
    "missing prefix": ["-p", "OUT/nowhere", "-o", "OUT/env.tar"],
    "unknown format": ["-p", "ENV", "--format", "rar"],
    "bad option": ["-p", "ENV", "--no-such-option"],
    "version": ["--version"],
}


@pytest.mark.parametrize("line", COMMAND_LINES)
def test_conda_pack_command_lines_exit_alike(real_env: Callable[[str], Path], tmp_path: Path, line: str) -> None:
    env = real_env("basic")
    codes = {}
    for tool, command in COMMANDS.items():
        out = tmp_path / tool
        out.mkdir()
        (out / "exists.tar").write_bytes(b"")
        argv = [arg.replace("ENV", str(env)).replace("OUT", str(out)) for arg in COMMAND_LINES[line]]
        result = subprocess.run([*command, *argv], capture_output=True, text=True)
        codes[tool] = result.returncode
        if result.returncode == 0 and line == "version":
            assert re.fullmatch(r"conda-pack \S+( \(condapack, from .+\))?\n", result.stdout), result.stdout
    assert codes["condapack"] == codes["conda_pack"], codes


def test_conda_unpack_answers_help_and_version_like_conda_packs(real_env: Callable[[str], Path],
                                                                tmp_path: Path) -> None:
    env = str(real_env("basic"))
    for tool in (condapack, conda_pack):
        place = tmp_path / tool.__name__
        with tarfile.open(tool.pack(prefix=env, output=str(tmp_path / f"{tool.__name__}.tar"))) as tf:
            tf.extractall(place, filter="tar")
        version = subprocess.run([str(place / "bin/conda-unpack"), "--version"], capture_output=True, text=True)
        assert version.returncode == 0 and version.stdout.startswith("conda-unpack "), tool
        helped = subprocess.run([str(place / "bin/conda-unpack"), "--help"], capture_output=True, text=True)
        assert helped.returncode == 0 and helped.stdout.startswith("usage: conda-unpack [-h] [--version]"), tool
        assert subprocess.run([str(place / "bin/conda-unpack"), "-v"], capture_output=True).returncode == 0


# -- a script written for conda-pack 0.9.2 ---------------------------------------------------

#: Written against conda-pack 0.9.2's documented API; run as it is, and with only its
#: imports changed to condapack. It prints what it saw, which must be the same.
CONDA_PACK_SCRIPT = '''\
import os, subprocess, sys, tarfile
import conda_pack
from conda_pack import CondaEnv, CondaPackException, File

prefix, work = sys.argv[1], sys.argv[2]
env = CondaEnv.from_prefix(prefix, on_missing_cache="ignore")
assert isinstance(env.prefix, str) and env.prefix == prefix
print(env.name, len(env) == len(list(env)) == len(env.files))
smaller = env.exclude("*.pyc").include("bin/*")
print(len(smaller) < len(env), len(env.exclude("*.pyc").files) <= len(smaller))
out = smaller.pack(os.path.join(work, "env.tar"), "tar", "", None, None, None, None, None, False, False, 4, 1)
print(os.path.basename(out))
try:
    smaller.pack(os.path.join(work, "env.tar"))
except CondaPackException:
    print("refused to overwrite")
note = os.path.join(work, "note.txt")
with open(note, "w") as fh:
    fh.write("hello\\n")
custom = CondaEnv(env.prefix, list(smaller.files) + [File(note, "share/note.txt")])
custom_out = custom.pack(output=os.path.join(work, "custom.tar.gz"), n_threads=1)
with tarfile.open(custom_out) as tf:
    print("share/note.txt" in tf.getnames())
    tf.extractall(os.path.join(work, "unpacked"))
conda_pack.pack(prefix=prefix, output=os.path.join(work, "module.zip"), filters=[("exclude", "*.pyc")])
unpack = os.path.join(work, "unpacked", "bin", "conda-unpack")
version = subprocess.run([unpack, "--version"], capture_output=True, text=True)
print(version.returncode, version.stdout.split()[0])
print(subprocess.run([unpack], capture_output=True).returncode)
'''


def test_a_script_written_for_conda_pack_runs_unchanged_but_for_the_import(real_env: Callable[[str], Path],
                                                                          tmp_path: Path) -> None:
    env = str(real_env("basic"))
    ported = CONDA_PACK_SCRIPT.replace("import conda_pack\n", "import condapack as conda_pack\n").replace(
        "from conda_pack import", "from condapack import")
    printed = {}
    for name, script in (("reference", CONDA_PACK_SCRIPT), ("ported", ported)):
        work = tmp_path / name
        work.mkdir()
        result = subprocess.run([sys.executable, "-c", script, env, str(work)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        printed[name] = result.stdout
    assert printed["ported"] == printed["reference"]
    assert printed["ported"].splitlines()[-2:] == ["0 conda-unpack", "0"]
