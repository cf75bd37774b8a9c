"""End to end on environments that conda itself created (26.7.1 and 24.11.3, see ``condakit``).

What conda writes in ``conda-meta`` differs from what rattler writes (``noarch: python``
paths, sizes and digests of files whose prefix it replaced, ``.pyc`` entries it compiled):
packing such an environment with no flags works without a warning in every format, and
the archive relocates like one of a rattler-created environment.
"""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import pytest

import envkit
from condapack.archive.formats import REGISTRY
from condapack.cli import conda_pack_main
from condapack.project.build import build
from condapack.project.config import load_project
from conftest import CondaEnvFactory
from helpers import (
    HOST_PATH,
    assert_activation_works,
    assert_works_after_moving_again,
    assert_works_at,
    extract,
    pack,
    run,
)

VERSIONS = ["26.7.1", "24.11.3"]
LONG = "a-much-longer-directory-name-" * 3


def _output(tmp_path: Path, fmt: str) -> list[str]:
    """``-o`` (and ``--format`` for a directory) for ``fmt``: the format follows from the name."""
    if fmt == "no-archive":
        return ["--format", fmt, "-o", str(tmp_path / "env")]
    if fmt == "parcel":
        return ["-o", str(tmp_path / "env.parcel"), "--parcel-name", "env"]
    return ["-o", str(tmp_path / f"env{REGISTRY[fmt].suffixes[0]}")]


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if "warning" in line.lower()]


@pytest.mark.parametrize("fmt", sorted(REGISTRY))
@pytest.mark.parametrize("version", VERSIONS)
def test_conda_created_env_packs_with_no_flags_and_no_warning_in_every_format(
        conda_env: CondaEnvFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str], version: str,
        fmt: str) -> None:
    env = conda_env(version)
    assert conda_pack_main(["-p", str(env), *_output(tmp_path, fmt)]) == 0
    assert _warnings(capsys.readouterr().err) == []


def _installed(archive: Path, prefix: Path) -> Path:
    """Run the self-installing archive into ``prefix`` with nothing but a PATH."""
    done = subprocess.run(["env", "-i", f"PATH={HOST_PATH}", "sh", str(archive), "--prefix", str(prefix), "-q"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return prefix


@pytest.mark.parametrize("fmt", ["tar.zst", "zip", "squashfs", "no-archive", "sh"])
@pytest.mark.parametrize("version", VERSIONS)
def test_conda_created_env_unpacks_and_relocates_from_each_kind_of_writer(
        conda_env: CondaEnvFactory, tmp_path: Path, version: str, fmt: str) -> None:
    env = conda_env(version)
    (tmp_path / "out").mkdir()
    assert conda_pack_main(["-p", str(env), "-q", *_output(tmp_path / "out", fmt)]) == 0
    archive = next((tmp_path / "out").iterdir())
    if fmt == "sh":
        prefix = _installed(archive, tmp_path / "installed")
    else:
        prefix = extract(archive, tmp_path / "unpacked")
        run([str(prefix / "bin/conda-unpack")])
    assert_works_at(prefix, str(env))


@pytest.mark.parametrize("where", ["short", "long"])
@pytest.mark.parametrize("version", VERSIONS)
def test_conda_created_env_relocates_to_a_shorter_and_a_longer_path_and_again(
        conda_env: CondaEnvFactory, tmp_path: Path, version: str, where: str) -> None:
    env = conda_env(version)
    pack(env, tmp_path / "env.tar.gz")
    prefix = extract(tmp_path / "env.tar.gz", tmp_path / ("e" if where == "short" else LONG))
    assert (len(str(prefix)) < len(str(env))) == (where == "short")
    run([str(prefix / "bin/conda-unpack")])
    assert_works_at(prefix, str(env))
    assert run([str(prefix / envkit.PIP_SCRIPT)]) == f"{prefix}\n"
    assert run([str(prefix / envkit.PYTHON_BIN), "-m", "pip", "--version"]).startswith("pip ")
    assert_works_after_moving_again(prefix, tmp_path)


@pytest.mark.parametrize("version", VERSIONS)
def test_conda_created_env_with_dest_prefix_works_there_without_conda_unpack(
        conda_env: CondaEnvFactory, tmp_path: Path, version: str) -> None:
    env = conda_env(version)
    final = tmp_path / "final" / "location"
    pack(env, tmp_path / "env.tar.gz", "--dest-prefix", str(final))
    with tarfile.open(tmp_path / "env.tar.gz") as tf:
        assert "bin/conda-unpack" not in tf.getnames()
    prefix = extract(tmp_path / "env.tar.gz", final)
    assert_works_at(prefix, str(env))
    assert_activation_works(prefix, "dash")


@pytest.mark.parametrize("version", VERSIONS)
def test_project_over_a_conda_created_env_builds_then_no_ops_and_passes_locked(
        conda_env: CondaEnvFactory, tmp_path: Path, version: str) -> None:
    env = conda_env(version)
    root = tmp_path / "proj"
    root.mkdir()
    (root / "condapack.toml").write_text(f'output-dir = "dist"\n[env.app]\nprefix = "{env}"\n'
                                         'formats = ["tar.gz", "zip"]\n')
    project = load_project(root / "condapack.toml")
    assert [r.target.name for r in build(project, ()) if r.made] == ["app:tar.gz", "app:zip"]
    assert [r.target.name for r in build(load_project(root / "condapack.toml"), ()) if r.made] == []
    assert [r.target.name for r in build(load_project(root / "condapack.toml"), (), locked=True) if r.made] == []
    prefix = extract(root / "dist" / "app.tar.gz", tmp_path / "unpacked")
    run([str(prefix / "bin/conda-unpack")])
    assert_works_at(prefix, str(env))
