"""Write an output atomically: a temporary file beside the target, renamed into place."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

from .errors import ArchiveError

__all__ = ["check_output", "atomic_output"]


def check_output(output: Path, prefix: Path, force: bool) -> None:
    """Refuse outputs that would clobber a file or land inside the environment."""
    if output.exists() and not force:
        raise ArchiveError(f"File '{output}' already exists; pass --force to overwrite it")
    if output.is_dir():
        raise ArchiveError(f"Output '{output}' is a directory; name an archive file with -o/--output")
    if _inside(output, prefix):
        raise ArchiveError(
            f"Output '{output}' is inside the environment being packed ({prefix}); write it elsewhere"
        )
    directory = output.parent
    if not directory.is_dir():
        if not force:
            raise ArchiveError(
                f"The target output directory {directory} does not exist; create it or pass --force"
            )
        directory.mkdir(parents=True, exist_ok=True)


def _inside(path: Path, prefix: Path) -> bool:
    real_path = os.path.realpath(path)
    real_prefix = os.path.realpath(prefix)
    return real_path == real_prefix or real_path.startswith(real_prefix.rstrip(os.sep) + os.sep)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(output: Path, executable: bool = False) -> Iterator[BinaryIO]:
    """Yield a file beside ``output``; on success it replaces ``output``, else vanishes.

    The rename happens only when the block finishes without an exception, so a failing
    writer, Ctrl-C, a crash or a full disk never leave a partial archive at ``output``.
    The data is not fsynced: that doubled the time of large packs, and a rename over a
    file is already flushed first by ext4, XFS and btrfs. An ``executable`` output gets
    the execute bits the umask allows.
    """
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.chmod(tmp, (0o777 if executable else 0o666) & ~_umask())
        os.replace(tmp, output)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
