"""``conda pack``: the plugin conda loads from the ``conda`` entry point.

The hook, the subcommand it yields and its action are checked for each shape of
conda's plugin API (see ``condastub``), and the action packs real environments that
relocate. Through each real conda (``condakit``: 26.7.1, 24.11.3 and 23.5.2), the same
is checked, on environments rattler and conda created.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from conda_pack import cli as conda_pack_cli  # the reference, pinned in tox.ini

import condakit
import condastub
import envkit
from conftest import CondaEnvFactory
from helpers import assert_works_at, extract, run

#: ``--version`` names the tool and the directory it is installed in (which differs per install).
VERSION_LINE = re.compile(r"conda-pack \d+\.\d+\.\d+\S* \(condapack, from .+\)\n")


@pytest.fixture(params=condastub.APIS)
def api(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """conda's plugin API in one of its shapes, importable as ``conda`` for the test."""
    _forget_conda()
    monkeypatch.syspath_prepend(str(condastub.write_stub(tmp_path / "stub", request.param)))
    yield request.param
    _forget_conda()


def _forget_conda() -> None:
    for name in [m for m in sys.modules if m == "conda" or m.startswith("conda.")]:
        del sys.modules[name]
    sys.modules.pop("condapack.conda_plugin", None)


def _entry_point() -> importlib.metadata.EntryPoint:
    points = [ep for ep in importlib.metadata.distribution("condapack").entry_points if ep.group == "conda"]
    assert [(ep.name, ep.value) for ep in points] == [("condapack", "condapack.conda_plugin")]
    return points[0]


def _pack_subcommand() -> Any:
    found = condastub.subcommands(_entry_point().load())
    assert [sub.name for sub in found] == ["pack"]
    return found[0]


def _reference_flags() -> list[str]:
    parser = conda_pack_cli.build_parser()
    return sorted(flag for action in parser._actions for flag in action.option_strings)


def missing_flags(help_text: str) -> list[str]:
    """The reference's flags that a --help text does not show."""
    shown = {word.strip(",[]") for word in help_text.split()}
    return [flag for flag in _reference_flags() if flag not in shown]


def test_importing_condapack_never_imports_conda(tmp_path: Path) -> None:
    stub = condastub.write_stub(tmp_path / "stub", "26.7")
    code = ("import sys, condapack, condapack.cli, condapack.project.project_cli, condapack.project.build\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'conda'))\n"
            "import condapack.conda_plugin\n"
            "print('conda.plugins' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(stub)}).stdout
    assert out == "[]\nTrue\n"


def test_entry_point_loads_the_plugin_module(api: str) -> None:
    module = _entry_point().load()
    assert module.__name__ == "condapack.conda_plugin"
    assert hasattr(module.conda_subcommands, "conda_impl")  # marked by conda.plugins.hookimpl


def test_hook_yields_one_pack_subcommand_that_takes_raw_arguments(api: str) -> None:
    from condapack.conda_plugin import SUMMARY

    sub = _pack_subcommand()
    assert (sub.name, sub.summary) == ("pack", SUMMARY)
    if api != "23.1":
        assert sub.configure_parser is None  # so conda hands the action the unparsed arguments
    if api == "26.7":
        assert sub.aliases == ()


def test_action_packs_a_real_environment_that_relocates(api: str, real_env: envkit.EnvFactory,
                                                        tmp_path: Path) -> None:
    env = real_env("basic")
    archive = tmp_path / "X.tar.gz"
    assert condastub.call_action(api, _pack_subcommand().action, ["-p", str(env), "-o", str(archive), "-q"]) == 0
    prefix = extract(archive, tmp_path / "elsewhere")
    run([str(prefix / "bin/conda-unpack")])
    assert_works_at(prefix, str(env))


def test_help_and_version_through_the_action_are_conda_packs(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    action = _pack_subcommand().action
    assert condastub.call_action(api, action, ["--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: conda pack [--name ENV] [--prefix PATH]")
    assert missing_flags(text) == []
    assert condastub.call_action(api, action, ["--version"]) == 0
    assert VERSION_LINE.fullmatch(capsys.readouterr().out)


def test_usage_errors_through_the_action_exit_2(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert condastub.call_action(api, _pack_subcommand().action, ["--bogus"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == "conda pack: error: unrecognized arguments: --bogus"


@pytest.fixture
def named_env(conda_channel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real env ``myenv`` in an envs dir conda knows (CONDA_ENVS_DIRS); cwd is an empty dir."""
    envs = tmp_path / "envs"
    env = envkit.create_env("basic", envs / "myenv", conda_channel)
    monkeypatch.setenv("CONDA_ENVS_DIRS", str(envs))
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return env


def test_dash_n_resolves_through_condas_envs_dirs_and_writes_name_tar_gz(
        named_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    condastub.write_stub(tmp_path / "stub", "26.7")
    monkeypatch.syspath_prepend(str(tmp_path / "stub"))
    _forget_conda()
    action = _pack_subcommand().action
    assert action(("-n", "myenv", "-q")) == 0
    assert sorted(p.name for p in Path.cwd().iterdir()) == ["myenv.tar.gz"]
    prefix = extract(Path("myenv.tar.gz"), tmp_path / "unpacked")
    run([str(prefix / "bin/conda-unpack")])
    assert_works_at(prefix, str(named_env))
    monkeypatch.setenv("CONDA_PREFIX", str(named_env))
    assert action(("-o", "active.tar", "-q")) == 0  # no -n/-p: conda's active environment
    assert Path("active.tar").stat().st_size > 0
    assert action(("-n", "nope")) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"CondaPackError: Environment name 'nope' doesn't exist (conda looked in {tmp_path / 'envs'}); "
        "pass its path with -p/--prefix")
    assert action(("-n", "..")) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "CondaPackError: environment name '..' looks like a path; pass it with -p/--prefix")
    _forget_conda()


# -- a real conda --------------------------------------------------------------------
# conda's wheels from shared/conda/ (see condakit), else CONDA_EXE; else these skip saying why.


@pytest.fixture(params=condakit.CONDA_VERSIONS)
def real_conda(request: pytest.FixtureRequest, conda_exe: Callable[[str], Path]) -> Path:
    """A ``CONDA_EXE`` of each conda version whose ``conda pack`` is the condapack under test."""
    return conda_exe(request.param)


def conda(exe: Path, *argv: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the real conda's ``ARGV`` in ``cwd``."""
    return subprocess.run([str(exe), *argv], capture_output=True, text=True, cwd=cwd, env={**os.environ, **env})


def test_real_conda_pack_dash_p_packs_an_env_that_relocates(real_conda: Path, real_env: envkit.EnvFactory,
                                                            tmp_path: Path) -> None:
    env = real_env("basic")
    done = conda(real_conda, "pack", "-p", str(env), "-o", str(tmp_path / "X.tar.gz"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    prefix = extract(tmp_path / "X.tar.gz", tmp_path / "elsewhere")
    run([str(prefix / "bin/conda-unpack")])
    assert_works_at(prefix, str(env))


@pytest.mark.parametrize("version", ["26.7.1", "24.11.3"])
def test_real_conda_packs_an_env_it_created_with_no_warning(version: str, conda_exe: Callable[[str], Path],
                                                            conda_env: CondaEnvFactory, tmp_path: Path) -> None:
    env = conda_env(version)
    done = conda(conda_exe(version), "pack", "-p", str(env), "-o", str(tmp_path / "X.tar.gz"), cwd=tmp_path)
    assert (done.returncode, [line for line in done.stderr.splitlines() if "warning" in line.lower()]) == (0, [])
    prefix = extract(tmp_path / "X.tar.gz", tmp_path / "elsewhere")
    run([str(prefix / "bin/conda-unpack")])
    assert_works_at(prefix, str(env))


def test_real_conda_pack_dash_n_writes_name_tar_gz_that_relocates(real_conda: Path, named_env: Path,
                                                                  tmp_path: Path) -> None:
    done = conda(real_conda, "pack", "-n", "myenv", cwd=Path.cwd())
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in Path.cwd().iterdir()) == ["myenv.tar.gz"]
    prefix = extract(Path("myenv.tar.gz"), tmp_path / "unpacked")
    run([str(prefix / "bin/conda-unpack")])
    assert_works_at(prefix, str(named_env))


@pytest.mark.e2e
def test_real_conda_pack_help_version_and_exit_codes(real_conda: Path, tmp_path: Path) -> None:
    helped = conda(real_conda, "pack", "--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert missing_flags(helped.stdout) == []
    assert VERSION_LINE.fullmatch(conda(real_conda, "pack", "--version", cwd=tmp_path).stdout)
    missing = conda(real_conda, "pack", "-p", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert (missing.returncode, missing.stderr.splitlines()[-1]) == (
        1, f"CondaPackError: Environment path '{tmp_path / 'nowhere'}' doesn't exist; "
           "pass the path of an existing conda environment")
