"""An environment's directory tree as every walk sees it: what is left out, and the error for what cannot be read.

Stdlib only and free of records and packing, so that the no-op check of a build (the
tree signature) can list directories without loading what reading an environment needs.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from .errors import EnvError

__all__ = ["check_is_environment", "entries", "ignored_top", "unreadable"]

# Top-level entries of a base installation that never belong in an environment archive.
_IGNORED_TOP = frozenset(
    {"pkgs", "envs", "conda-bld", ".conda_lock", "users", "conda-recipes", ".index",
     ".unionfs", ".nonadmin", "python.app", "Launcher.app"}
)


def check_is_environment(prefix: Path) -> None:
    """Refuse a path that does not exist or holds no ``conda-meta``."""
    if not prefix.exists():
        raise EnvError(f"Environment path '{prefix}' doesn't exist; pass the path of an existing conda environment")
    if not (prefix / "conda-meta").is_dir():
        raise EnvError(
            f"Path '{prefix}' is not a conda environment (it has no conda-meta directory); "
            "pass the path of a conda environment"
        )


def ignored_top(name: str) -> bool:
    """Whether a top-level entry of the prefix is left out (a base installation's own, or a backup)."""
    return name in _IGNORED_TOP or name.endswith("~")


def entries(path: str) -> list[os.DirEntry[str]]:
    """The entries of directory ``path`` (unreadable: :func:`unreadable`)."""
    try:
        with os.scandir(path) as it:
            return list(it)
    except OSError as exc:
        raise unreadable(f"directory {path}", exc) from None


def unreadable(what: str, exc: OSError) -> EnvError:
    """The one-line error for an entry that cannot be read, with its fix."""
    fix = ("shorten or remove it (it is longer than the system allows)" if exc.errno == errno.ENAMETOOLONG
           else "fix its permissions (or remove it)")
    return EnvError(f"cannot read {what}: {exc.strerror}; {fix} and pack again")
