"""A real conda for the tests, and environments that conda itself creates.

conda is not on the package registries the tests use, so its wheels (built from conda's
source) sit in ``shared/conda/`` beside the repository (or beside the main checkout of a
git worktree). ``conda_for(version)`` installs one into a venv cached under the tests'
cache root, keyed by the wheel's digest: the dependencies by name from PyPI, the wheel
with ``--no-deps`` (conda's optional menuinst is not on PyPI), plus condapack's own
dependencies. condapack itself is not in that venv: ``plugin_dir()`` copies the condapack
under test into a directory of this run, which the ``CONDA_EXE`` wrapper puts on
``PYTHONPATH``, so ``conda pack`` runs the worktree's code whichever worktree cached the venv.

Without the wheels, ``CONDA_EXE`` (a conda with condapack installed beside it) serves the
version it reports; without either, the tests skip naming why.

``create_conda_env`` runs ``conda create`` offline with the classic solver from the
tests' local channel, then pip-installs a project, as a user's environment would be.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import envkit

#: The conda versions the tests run (wheels in ``shared/conda/``).
CONDA_VERSIONS = ("26.7.1", "24.11.3", "23.5.2")
#: What conda needs from PyPI (the wheel is installed with ``--no-deps``).
CONDA_DEPS = ("archspec", "boltons", "charset-normalizer", "conda-package-handling", "distro", "frozendict",
              "msgpack", "packaging", "platformdirs", "pluggy", "pycosat", "requests", "ruamel.yaml<0.18",
              "setuptools", "tqdm", "truststore", "zstandard")
#: What a conda environment of the tests holds: the ``basic`` scenario's packages, then a
#: pip-installed project (``envkit.PIP_DIST``, script ``envkit.PIP_SCRIPT``).
CONDA_ENV_SPECS = (f"python =={envkit.PY_VERSION}", "pip", envkit.CPDEMO_PY_PACKAGE, envkit.CPDEMO_TOOLS_PACKAGE)
#: Bump when what ``create_conda_env`` does changes (part of the cached environments' key).
_ENV_RECIPE = "1"

_REPO = Path(__file__).resolve().parent.parent


class CondaUnavailable(Exception):
    """No conda of the version asked for can be had here; the message says why."""


@dataclass(frozen=True)
class Conda:
    """One installed conda: how to run it, and what runs ``conda pack`` with this condapack."""

    version: str
    #: Runs conda's main (``python -m conda``): a venv's python, or ``CONDA_EXE``.
    command: tuple[str, ...]
    #: Where ``create_conda_env`` keeps this conda's package cache.
    pkgs_dir: Path
    #: An empty ``.condarc`` (23.x fails to read ``/dev/null``).
    condarc: Path

    def run(self, *argv: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
        """Run ``conda ARGV`` offline with the classic solver, isolated from the user's conda setup."""
        return subprocess.run([*self.command, *argv], capture_output=True, text=True, cwd=cwd,
                              env={**conda_environ(self), **(env or {})}, check=False)


def conda_environ(conda: Conda) -> dict[str, str]:
    """The environment conda runs in: no user configuration, no network, the classic solver."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("CONDA", "PYTHON", "PIP_", "VIRTUAL_ENV"))}
    return {**keep, "CONDARC": str(conda.condarc), "CONDA_SOLVER": "classic", "CONDA_OFFLINE": "true",
            "CONDA_PKGS_DIRS": str(conda.pkgs_dir), "CONDA_NUMBER_CHANNEL_NOTICES": "0",
            "CONDA_AUTO_UPDATE_CONDA": "false", "CONDA_REPORT_ERRORS": "false"}


def wheels_dir() -> Path | None:
    """``shared/conda`` beside the repository, or beside the main checkout of this git worktree."""
    for root in (_REPO, _main_checkout(_REPO)):
        if root is not None and (root.parent / "shared" / "conda").is_dir():
            return root.parent / "shared" / "conda"
    return None


def _main_checkout(repo: Path) -> Path | None:
    """The main working tree of a git worktree (``.git`` is then a file naming its git dir)."""
    dot_git = repo / ".git"
    if not dot_git.is_file():
        return None
    match = re.match(r"gitdir: (.+)", dot_git.read_text().strip())
    commondir = Path(match.group(1)) / "commondir" if match else None
    if commondir is None or not commondir.is_file():
        return None
    return (commondir.parent / commondir.read_text().strip()).resolve().parent


def conda_for(version: str, cache_root: Path | None = None) -> Conda:
    """The conda ``version``: from its wheel (a venv built once and cached), else ``CONDA_EXE``."""
    wheels = wheels_dir()
    wheel = wheels / f"conda-{version}-py3-none-any.whl" if wheels else None
    root = (cache_root or envkit.default_cache_root()).resolve()
    if wheel is not None and wheel.is_file():
        venv = _venv_for(wheel, root)
        home = venv.parent
        return Conda(version, (str(venv / "bin" / "python"), "-m", "conda"), home / "pkgs", home / "condarc")
    return _conda_exe(version, root, "no shared/conda/ wheels beside the repository" if wheels is None
                      else f"no {wheel.name if wheel else ''} in {wheels}")


def _conda_exe(version: str, root: Path, why: str) -> Conda:
    exe = os.environ.get("CONDA_EXE", "")
    if not exe:
        raise CondaUnavailable(f"needs conda {version}: {why}, and CONDA_EXE is not set")
    done = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    found = done.stdout.split()[-1] if done.returncode == 0 and done.stdout.split() else "none"
    if found != version:
        raise CondaUnavailable(f"needs conda {version}: {why}, and CONDA_EXE ({exe}) is conda {found}")
    home = root / f"conda-exe-{version}"
    home.mkdir(parents=True, exist_ok=True)
    (home / "condarc").touch()
    return Conda(version, (exe,), home / "pkgs", home / "condarc")


def _venv_key(wheel: Path) -> str:
    digest = hashlib.sha256(wheel.read_bytes())
    digest.update(json.dumps([sys.version, sys.base_prefix, CONDA_DEPS, _condapack_requirements()]).encode())
    return digest.hexdigest()[:16]


def _condapack_requirements() -> list[str]:
    """condapack's runtime dependencies (the plugin imports them inside conda's python)."""
    return sorted(r for r in metadata.requires("condapack") or [] if "extra ==" not in r)


def _venv_for(wheel: Path, root: Path) -> Path:
    """``CACHE/conda-VERSION-KEY/venv``: built in a temporary directory, renamed into place, once."""
    version = wheel.name.split("-")[1]
    final = root / f"conda-{version}-{_venv_key(wheel)}"
    if (final / "venv").is_dir():
        return final / "venv"
    with envkit.file_lock(root / f"{final.name}.lock"):
        if not (final / "venv").is_dir():
            tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=root))
            try:
                _install_conda(wheel, tmp)
                tmp.chmod(0o755)
                tmp.rename(final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return final / "venv"


def _install_conda(wheel: Path, home: Path) -> None:
    """A venv holding conda (run as ``python -m conda``) and condapack's dependencies."""
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _checked([*pip, *CONDA_DEPS, *_condapack_requirements()])
    _checked([*pip, "--no-deps", str(wheel)])
    (home / "condarc").write_text("")
    (home / "pkgs").mkdir()


def _checked(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{argv[:6]} failed:\n{done.stdout}\n{done.stderr}")


def plugin_dir(directory: Path) -> Path:
    """Copy the condapack these tests run (package and dist-info, so conda finds its entry
    point) into ``directory``, for the ``PYTHONPATH`` of a conda that should load it."""
    dist = metadata.distribution("condapack")
    site = Path(str(dist.locate_file("")))
    for file in dist.files or ():
        if file.parts[0] != ".." and "__pycache__" not in file.parts:
            target = directory / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(site / file, target)
    return directory


def write_conda_exe(conda: Conda, path: Path, plugin: Path) -> Path:
    """A ``CONDA_EXE`` for ``conda``: a two-line sh wrapper that loads ``plugin`` (see :func:`plugin_dir`)."""
    command = " ".join(f"'{part}'" for part in conda.command)
    env = " ".join(f"{k}='{v}'" for k, v in sorted(conda_environ(conda).items()) if k.startswith("CONDA"))
    path.write_text(f"#!/bin/sh\nPYTHONPATH='{plugin}' {env} exec {command} \"$@\"\n")
    path.chmod(0o755)
    return path


def create_conda_env(conda: Conda, prefix: Path, channel: Path, specs: Sequence[str] = CONDA_ENV_SPECS) -> Path:
    """``conda create -p PREFIX SPECS`` from the local ``channel``, then pip-install a project."""
    prefix = Path(prefix).resolve()
    done = conda.run("create", "-y", "-q", "-p", str(prefix), "--offline", "--override-channels",
                     "-c", Path(channel).resolve().as_uri(), *specs)
    if done.returncode:
        raise RuntimeError(f"conda {conda.version} create failed:\n{done.stdout}\n{done.stderr}")
    with tempfile.TemporaryDirectory() as tmp:
        wheel = envkit.make_wheel(Path(tmp))
        envkit.run_env_python(prefix, "-m", "pip", "install", "--no-deps", "-q", str(wheel))
    return prefix


def cached_conda_env(conda: Conda, channel: Path, cache_root: Path | None = None) -> Path:
    """A conda-created environment shared by every run (keyed by conda, channel and recipe): read it only.

    conda hard-links unchanged files from its package cache: a test that writes into an
    environment makes its own with :func:`create_conda_env`.
    """
    root = (cache_root or envkit.default_cache_root()).resolve()
    name = f"conda-env-{conda.version}-{Path(channel).resolve().name}-{_ENV_RECIPE}"
    final, done = root / name / "env", root / name / "done"
    if done.exists():
        return final
    with envkit.file_lock(root / f"{name}.lock"):
        if not done.exists():
            shutil.rmtree(final.parent, ignore_errors=True)  # what a failed attempt left
            create_conda_env(conda, final, channel)
            done.touch()
    return final
