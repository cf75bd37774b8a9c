"""Pin that envkit's channel and scenarios are what they claim, on disk."""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import envkit
from envkit import EnvFactory
from helpers import shared_path

Record = dict[str, Any]


def records(prefix: Path) -> dict[str, Record]:
    """conda-meta records of ``prefix`` by package name."""
    found = {}
    for path in (prefix / "conda-meta").glob("*.json"):
        record = json.loads(path.read_text())
        found[record["name"]] = record
    return found


def paths_by_name(record: Record) -> dict[str, Record]:
    """``paths_data`` entries of a record, by relative path."""
    return {entry["_path"]: entry for entry in record["paths_data"]["paths"]}


def run(*cmd: str | Path) -> list[str]:
    """Run a program with a clean-ish environment; return its output lines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "CONDA", "VIRTUAL_ENV"))}
    proc = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True, check=True)
    return proc.stdout.splitlines()


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's content."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- channel --------------------------------------------------------------


def test_channel_is_cached_and_clean(conda_channel: Path) -> None:
    assert envkit.build_channel() == conda_channel
    assert sorted(p.name for p in conda_channel.iterdir()) == ["linux-64", "noarch"]


def test_channel_has_every_package(conda_channel: Path) -> None:
    names = set()
    for subdir in ("linux-64", "noarch"):
        repodata = json.loads((conda_channel / subdir / "repodata.json").read_text())
        names |= {pkg["name"] for pkg in repodata["packages.conda"].values()}
    expected = {"python", "pip", "setuptools", "wheel", "packaging", "cpdemo-py", "cpdemo-tools", "conda"}
    assert names == expected


def test_unknown_scenario_is_rejected(conda_channel: Path, tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        envkit.create_env("nope", tmp_path / "env", conda_channel)


# -- basic ----------------------------------------------------------------


@pytest.fixture(scope="module")
def basic(conda_channel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One basic env for this module: its tests run the env's programs, which may write
    bytecode into it, so it is not the run's shared env."""
    return shared_path(tmp_path_factory, "envkit/env-basic",
                       lambda path: envkit.create_env("basic", path, conda_channel))


def test_basic_records(basic: Path) -> None:
    recs = records(basic)
    assert set(recs) == {"python", "pip", "cpdemo-py", "cpdemo-tools"}
    assert recs["python"]["version"] == envkit.PY_VERSION
    for record in recs.values():
        assert record["paths_data"]["paths"]
        assert record["link"]["type"] == 3  # copy
        assert Path(record["extracted_package_dir"]).is_dir()
    assert (basic / "conda-meta" / "history").is_file()
    assert not (basic / "CACHEDIR.TAG").exists()


def cached_path(record: Record, rel: str) -> Path:
    """Where installed file ``rel`` of ``record`` sits in the package cache
    (noarch: python packages keep ``site-packages/...`` there)."""
    if record.get("noarch") == "python":
        rel = rel.replace(envkit.SITE_PACKAGES, "site-packages", 1)
    return Path(record["extracted_package_dir"]) / rel


def test_basic_files_are_copies(basic: Path) -> None:
    for record in records(basic).values():
        for rel, entry in paths_by_name(record).items():
            if entry["path_type"] != "hardlink":
                continue
            installed = (basic / rel).stat()
            assert installed.st_nlink == 1, rel
            assert installed.st_ino != cached_path(record, rel).stat().st_ino, rel


def test_python_runs_from_env(basic: Path) -> None:
    out = run(basic / envkit.PYTHON_BIN, "-c", "import sys, ssl, sqlite3, ctypes; print(sys.prefix)")
    assert out == [str(basic)]
    assert os.readlink(basic / "bin/python") == f"python{envkit.PY_SHORT}"
    assert os.readlink(basic / "bin/python3") == f"python{envkit.PY_SHORT}"


def test_python_is_relocatable(basic: Path) -> None:
    binary = (basic / envkit.PYTHON_BIN).read_bytes()
    assert b"$ORIGIN/../lib" in binary
    assert sys.base_prefix.encode() not in binary
    stdlib = basic / f"lib/python{envkit.PY_SHORT}"
    assert (stdlib / "lib-dynload").is_dir()
    for dropped in ("test", "idlelib", "tkinter", "turtledemo", "ensurepip"):
        assert not (stdlib / dropped).exists()


def test_python_ships_pyc_with_build_prefix(basic: Path) -> None:
    """The stdlib .pyc name the build prefix, which is not recorded as a
    prefix placeholder (rattler-build skips .pyc in prefix detection)."""
    tag = sys.implementation.cache_tag
    pyc = basic / f"lib/python{envkit.PY_SHORT}/__pycache__/os.{tag}.pyc"
    code = marshal.loads(pyc.read_bytes()[16:])
    assert "placehold" in code.co_filename
    entries = paths_by_name(records(basic)["python"])
    rel = pyc.relative_to(basic).as_posix()
    assert "prefix_placeholder" not in entries[rel]


def test_entry_point(basic: Path) -> None:
    entry = paths_by_name(records(basic)[envkit.CPDEMO_PY_PACKAGE])[envkit.ENTRY_POINT]
    assert entry["path_type"] == "unix_python_entry_point"
    script = basic / envkit.ENTRY_POINT
    assert script.read_text().splitlines()[0] == f"#!{basic / envkit.PYTHON_BIN}"
    site = basic / envkit.SITE_PACKAGES
    assert run(script) == [str(basic), str(site / "cpdemo" / "__init__.py")]


def test_pip_works_offline(basic: Path) -> None:
    out = envkit.run_env_python(basic, "-m", "pip", "--version")
    assert str(basic / envkit.SITE_PACKAGES / "pip") in out


def test_c_program_prints_env_prefix(basic: Path) -> None:
    assert run(basic / envkit.C_PROGRAM) == [str(basic), str(basic)]
    assert b"$ORIGIN/../lib" in (basic / envkit.C_PROGRAM).read_bytes()


def test_prefix_placeholders_recorded(basic: Path) -> None:
    entries = paths_by_name(records(basic)[envkit.CPDEMO_TOOLS_PACKAGE])
    for rel in envkit.BINARY_PREFIX_FILES:
        assert entries[rel]["file_mode"] == "binary", rel
        assert entries[rel]["prefix_placeholder"]
    for rel in envkit.TEXT_PREFIX_FILES:
        assert entries[rel]["file_mode"] == "text", rel
        assert entries[rel]["prefix_placeholder"]
        text = (basic / rel).read_text()
        assert str(basic) in text
        assert entries[rel]["prefix_placeholder"] not in text


def test_scripts(basic: Path) -> None:
    data_dir = basic / envkit.DIR_SYMLINK.replace("cpdemo-current", envkit.DIR_SYMLINK_TARGET)
    assert run(basic / envkit.SHELL_SCRIPT) == [str(data_dir), envkit.GREETING]
    pyscript = basic / envkit.PYTHON_SCRIPT
    assert pyscript.read_text().splitlines()[0] == f"#!{basic / envkit.PYTHON_BIN}"
    assert run(pyscript) == [str(basic)]


def test_symlinks(basic: Path) -> None:
    link = basic / envkit.FILE_SYMLINK
    assert link.is_symlink() and os.readlink(link) == envkit.FILE_SYMLINK_TARGET
    assert run(link) == [str(basic), str(basic)]
    dir_link = basic / envkit.DIR_SYMLINK
    assert dir_link.is_symlink() and os.readlink(dir_link) == envkit.DIR_SYMLINK_TARGET
    assert (dir_link / "greeting.txt").read_text().strip() == envkit.GREETING
    entries = paths_by_name(records(basic)[envkit.CPDEMO_TOOLS_PACKAGE])
    assert entries[envkit.FILE_SYMLINK]["path_type"] == "softlink"
    assert entries[envkit.DIR_SYMLINK]["path_type"] == "softlink"


def test_activation_scripts(basic: Path) -> None:
    for rel in (*envkit.ACTIVATE_SCRIPTS, *envkit.DEACTIVATE_SCRIPTS):
        assert (basic / rel).is_file(), rel
    activate = basic / envkit.ACTIVATE_SCRIPTS[0]
    deactivate = basic / envkit.DEACTIVATE_SCRIPTS[0]
    shell = (
        f'CONDA_PREFIX="{basic}"; . "{activate}"; echo "$CPDEMO_ACTIVE $CPDEMO_HOME"; '
        f'. "{deactivate}"; echo "${{CPDEMO_ACTIVE-unset}}"'
    )
    assert run("sh", "-c", shell) == [f"1 {basic}/share/cpdemo-1.0", "unset"]


# -- other scenarios ------------------------------------------------------


def test_the_scenarios_are_the_ones_this_module_tests() -> None:
    assert set(envkit.SCENARIOS) == {
        "basic", "nopython", "has_conda", "editable", "missing_files",
        "pip_unmanaged", "clobbered", "no_history", "uncached",
    }  # fmt: skip


def test_nopython(real_env: EnvFactory) -> None:
    prefix = real_env("nopython")
    assert set(records(prefix)) == {envkit.CPDEMO_TOOLS_PACKAGE}
    assert not (prefix / "bin/python").exists()
    assert run(prefix / envkit.C_PROGRAM) == [str(prefix), str(prefix)]


def test_has_conda(real_env: EnvFactory) -> None:
    prefix = real_env("has_conda")
    recs = records(prefix)
    assert "conda" in recs
    assert set(envkit.CONDA_FILES) <= set(paths_by_name(recs["conda"]))
    for rel in envkit.CONDA_FILES:
        assert os.access(prefix / rel, os.X_OK), rel


def test_editable(real_env: EnvFactory) -> None:
    prefix = real_env("editable")
    site = prefix / envkit.SITE_PACKAGES
    sources = envkit.editable_sources(prefix)
    modern = sources / envkit.EDITABLE_PEP660
    legacy = sources / envkit.EDITABLE_LEGACY
    # PEP 660, by pip + setuptools
    assert list(site.glob(f"__editable__.{envkit.EDITABLE_PEP660}-*.pth"))
    direct_url = json.loads(
        (site / f"{envkit.EDITABLE_PEP660}-1.0.dist-info" / "direct_url.json").read_text()
    )
    assert direct_url["dir_info"] == {"editable": True}
    assert direct_url["url"] == modern.as_uri()
    # legacy setup.py develop
    assert (site / f"{envkit.EDITABLE_LEGACY}.egg-link").read_text().splitlines()[0] == str(legacy)
    assert str(legacy) in (site / "easy-install.pth").read_text().splitlines()
    out = envkit.run_env_python(
        prefix,
        "-c",
        f"import {envkit.EDITABLE_PEP660} as a, {envkit.EDITABLE_LEGACY} as b\n"
        "print(a.__file__)\nprint(b.__file__)",
    )
    assert out.splitlines() == [
        str(modern / envkit.EDITABLE_PEP660 / "__init__.py"),
        str(legacy / envkit.EDITABLE_LEGACY / "__init__.py"),
    ]
    assert not str(sources).startswith(str(prefix) + os.sep)


def test_missing_files(real_env: EnvFactory) -> None:
    prefix = real_env("missing_files")
    assert envkit.MISSING_FILE in paths_by_name(records(prefix)[envkit.CPDEMO_TOOLS_PACKAGE])
    assert not (prefix / envkit.MISSING_FILE).exists()


def test_pip_unmanaged(real_env: EnvFactory) -> None:
    prefix = real_env("pip_unmanaged")
    managed = {rel for record in records(prefix).values() for rel in paths_by_name(record)}
    site = prefix / envkit.SITE_PACKAGES
    info = site / f"{envkit.PIP_DIST}-{envkit.PIP_DIST_VERSION}.dist-info"
    assert (info / "RECORD").is_file()
    assert (info / "INSTALLER").read_text().strip() == "pip"
    for path in (info / "RECORD", site / envkit.PIP_DIST / "__init__.py", prefix / envkit.PIP_SCRIPT):
        assert path.relative_to(prefix).as_posix() not in managed
    script = prefix / envkit.PIP_SCRIPT
    assert script.read_text().splitlines()[0].startswith(f"#!{prefix}/bin/python")
    assert run(script) == [str(prefix)]


def test_clobbered(real_env: EnvFactory) -> None:
    prefix = real_env("clobbered")
    entry = paths_by_name(records(prefix)[envkit.CPDEMO_PY_PACKAGE])[envkit.CLOBBERED_FILE]
    clobbered = prefix / envkit.CLOBBERED_FILE
    assert clobbered.read_text() == envkit.CLOBBERED_CONTENT
    assert sha256(clobbered) != entry["sha256"]


def test_no_history(real_env: EnvFactory) -> None:
    prefix = real_env("no_history")
    assert not (prefix / "conda-meta" / "history").exists()
    recs = records(prefix)
    assert "link" not in recs["python"]
    assert all(rec["link"] is None for name, rec in recs.items() if name != "python")


def test_uncached(real_env: EnvFactory) -> None:
    prefix = real_env("uncached")
    for record in records(prefix).values():
        assert not Path(record["extracted_package_dir"]).exists()
    assert run(prefix / envkit.C_PROGRAM) == [str(prefix), str(prefix)]
