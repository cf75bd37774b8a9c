"""The files conda-unpack may write: regular files whose directory resolves inside the prefix."""

import os
import stat

from .safepath import UnsafePath, inside, io_path, is_link, relative_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, Optional, Tuple

    Target = Tuple[str, os.stat_result]


class Dirs(object):
    """Which directories below a prefix resolve inside it, each found once: one lstat
    per directory, a realpath only for symbolic links (and Windows junctions)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.known: "Dict[str, bool]" = {prefix: True}

    def inside(self, directory: str) -> bool:
        ok = self.known.get(directory)
        if ok is None:
            parent = os.path.dirname(directory)
            ok = parent != directory and self.inside(parent) and self._resolves_inside(directory)
            self.known[directory] = ok
        return ok

    def _resolves_inside(self, directory: str) -> bool:
        try:
            st = os.lstat(io_path(directory))
        except OSError:
            return False
        if is_link(st):
            return os.path.isdir(io_path(directory)) and inside(self.prefix, directory)
        return stat.S_ISDIR(st.st_mode)


def checked_target(prefix: str, rel: str, dirs: "Optional[Dirs]" = None) -> "Target":
    """The path of a manifest file, refused unless it is a regular file inside ``prefix``."""
    target = os.path.join(prefix, relative_path(rel))
    if not (dirs or Dirs(prefix)).inside(os.path.dirname(target)):
        raise UnsafePath("is below a symbolic link that leaves the environment")
    st = os.lstat(io_path(target))
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePath("is not a regular file (conda-unpack never writes through a symbolic link)")
    return target, st


def target_finder(prefix: str) -> "Callable[[str], Target]":
    """``checked_target`` for the journal's paths, with one directory cache."""
    dirs = Dirs(prefix)
    return lambda rel: checked_target(prefix, rel, dirs)
