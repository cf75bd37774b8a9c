"""Find an environment's prefix from a name, a path or the active environment."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .bounded import MIB, read_bounded
from .errors import EnvError
from .unpack.safepath import UnsafePath, host_path

__all__ = ["find_prefix", "check_env_name"]

#: conda's registry of environments, ~/.conda/environments.txt, holds a path a line.
REGISTRY_LIMIT = 16 * MIB


def find_prefix(name: str | None = None, prefix: str | os.PathLike[str] | None = None) -> Path:
    """Return the absolute prefix selected by ``name``, ``prefix`` or the active env."""
    if name and prefix:
        raise EnvError("Cannot specify both 'name' and 'prefix'; pass only one of -n/--name and -p/--prefix")
    if prefix:
        try:
            host_path(os.fspath(prefix))
        except UnsafePath as exc:
            raise EnvError(f"--prefix {exc}; pass the path of a conda environment") from None
        return Path(os.path.abspath(prefix))
    if name:
        return _prefix_from_name(name)
    active = os.environ.get("CONDA_PREFIX")
    if active:
        return Path(os.path.abspath(active))
    raise EnvError(
        "no environment selected and none is active (CONDA_PREFIX is not set); "
        "pass -n NAME or -p PATH"
    )


def check_env_name(name: str) -> None:
    """Refuse a name that would reach outside an environments directory."""
    if os.sep in name or "/" in name or name in (".", ".."):
        raise EnvError(f"environment name {name!r} looks like a path; pass it with -p/--prefix")


def _prefix_from_name(name: str) -> Path:
    check_env_name(name)
    candidates = _conda_envs() or _known_envs()
    for candidate in candidates:
        if candidate.name == name and (candidate / "conda-meta").is_dir():
            return candidate
    tried = ", ".join(str(c) for c in _env_dirs()) or "no environment directories"
    raise EnvError(
        f"Environment name {name!r} doesn't exist (looked in {tried} and "
        "~/.conda/environments.txt); pass its path with -p/--prefix"
    )


def _conda_envs() -> list[Path]:
    """Environments known to conda, when a conda executable is configured."""
    conda_exe = os.environ.get("CONDA_EXE")
    if not conda_exe or not os.path.exists(conda_exe):
        return []
    import subprocess  # only when conda is asked: a project's commands start without it

    try:
        out = subprocess.run(
            [conda_exe, "info", "--json"], capture_output=True, check=True, timeout=60
        ).stdout
        return [Path(e) for e in json.loads(out).get("envs", [])]
    except (OSError, subprocess.SubprocessError, ValueError):
        return []


def _env_dirs() -> list[Path]:
    """The standard places conda keeps named environments."""
    dirs = [Path(d) for d in os.environ.get("CONDA_ENVS_PATH", "").split(os.pathsep) if d]
    roots = [os.environ.get("CONDA_ROOT"), os.environ.get("MAMBA_ROOT_PREFIX")]
    dirs += [Path(r) / "envs" for r in roots if r]
    home = Path.home()
    for base in ("miniconda3", "anaconda3", "miniforge3", "mambaforge", "micromamba", ".conda"):
        dirs.append(home / base / "envs")
    dirs.append(Path("/opt/conda/envs"))
    return [d for d in dirs if d.is_dir()]


def _known_envs() -> list[Path]:
    """Environments from the standard directories and ~/.conda/environments.txt."""
    found = [child for d in _env_dirs() for child in sorted(d.iterdir())]
    try:
        data = read_bounded(Path.home() / ".conda" / "environments.txt", REGISTRY_LIMIT)
    except FileNotFoundError:
        return found
    lines = data.decode("utf-8", errors="replace").splitlines()
    return found + [Path(line.strip()) for line in lines if line.strip()]
