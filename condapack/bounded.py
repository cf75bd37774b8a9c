"""The one reader of files a user or another machine can place: regular files only, bounded.

Everything condapack reads whose content it does not control (the project file, the lock,
the state and memo under ``.condapack/``, ``SHA256SUMS``, cache objects and their
manifests) goes through :func:`read_bounded` or :func:`open_regular`: a FIFO or a device is
refused without blocking (it is opened non-blocking, then checked with ``fstat``), a
directory where a file belongs is one line, and nothing is read past a size cap, so
``/dev/zero`` or a FIFO named as one of these files is an error, never a hang or an
exhausted memory. Names that are condapack's own are opened without following a
symbolic link.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Union

from .errors import CondaPackError

__all__ = ["NotAFile", "TooLarge", "check_directory", "open_regular", "read_bounded", "KIB", "MIB"]

KIB, MIB = 1 << 10, 1 << 20
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class NotAFile(CondaPackError):
    """A path that must be a regular file of bounded size (or a directory) is something else."""

    def __init__(self, path: Union[str, Path], problem: str, fix: str) -> None:
        super().__init__(f"{path}: {problem}; {fix}")
        self.problem = problem


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


class TooLarge(NotAFile):
    """A regular file larger than what condapack reads there."""


def open_regular(path: Union[str, Path], *, own: bool = False, create: bool = False) -> int:
    """A descriptor of ``path`` opened for reading, which is a regular file.

    ``own``: the name is condapack's, so a symbolic link there is refused, not followed.
    ``create``: an empty file is made when there is none (a lock file, say).
    A missing file raises :class:`FileNotFoundError`; anything but a regular file
    raises :class:`NotAFile`; other failures their :class:`OSError`.
    """
    try:
        flags = os.O_RDONLY | _NONBLOCK | _BINARY | _CLOEXEC | (_NOFOLLOW if own else 0) | (os.O_CREAT if create else 0)
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP and own:
            raise NotAFile(path, "is a symbolic link where condapack keeps a file of its own",
                           "remove it") from None
        if exc.errno == errno.EISDIR:
            raise NotAFile(path, "is a directory, not a file", "remove or rename it") from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotAFile(path, f"is {_kind(mode)}, not a regular file", "remove it or name a file")
    if _NONBLOCK:
        os.set_blocking(fd, True)
    return fd


def read_bounded(path: Union[str, Path], limit: int, *, own: bool = False) -> bytes:
    """The bytes of the regular file ``path``; :class:`NotAFile` if it holds more than ``limit``.

    The size is checked before reading and the read stops past the cap, so a file that
    grows meanwhile is refused too.
    """
    fd = open_regular(path, own=own)
    try:
        if os.fstat(fd).st_size > limit:
            raise _too_large(path, limit)
        chunks, size = [], 0
        while chunk := os.read(fd, min(limit + 1 - size, 1 << 24)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise _too_large(path, limit)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _too_large(path: Union[str, Path], limit: int) -> TooLarge:
    shown = f"{limit // MIB} MiB" if limit >= MIB else f"{limit // KIB} KiB" if limit >= KIB else f"{limit} bytes"
    return TooLarge(path, f"larger than {shown}, more than condapack reads there", "is it the right file?")


def check_directory(path: Path) -> None:
    """Create directory ``path`` (and its parents) unless it is one; a file there is one line."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocking = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), path)
        raise NotAFile(blocking, "is not a directory", "remove or rename it") from None
