"""Write an output atomically: a temporary file beside the target, renamed into place.

Temporary files are named ``.NAME.XXXXXXXX.part`` (``.old`` for a directory output
being replaced) and locked with ``flock`` while in use, so the next pack to the same
output can tell the ones a killed run left behind and remove them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from .errors import ArchiveError

__all__ = ["check_output", "atomic_output", "temp_prefix", "temp_name", "created_and_held", "sweep_stale", "umask"]


def check_output(output: Path, prefix: Path, force: bool, replaces_directory: bool = False) -> None:
    """Refuse outputs that would clobber a file or land inside the environment.

    With ``replaces_directory`` (the ``no-archive`` format) ``--force`` may replace an
    existing directory, but only one that holds an environment (a ``conda-meta``).
    """
    if (output.exists() or output.is_symlink()) and not force:
        raise ArchiveError(f"File '{output}' already exists; pass --force to overwrite it")
    if output.is_dir() and not (replaces_directory and (output / "conda-meta").is_dir()
                                and not output.is_symlink()):
        if replaces_directory:
            raise ArchiveError(f"Output '{output}' is a directory that holds no environment; --force only "
                               "replaces an earlier no-archive output: choose another -o/--output")
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


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_prefix(output: Path) -> str:
    """How condapack's temporary files beside ``output`` begin."""
    return f".{output.name}."


def temp_name(output: Path, suffix: str) -> str:
    """A new temporary name beside ``output``: ``.NAME.`` + 8 random hex digits + suffix."""
    return str(output.parent / f"{temp_prefix(output)}{secrets.token_hex(4)}{suffix}")


@contextlib.contextmanager
def created_and_held(path: str, create: Callable[[str], None]) -> Iterator[None]:
    """Create a temporary with ``create`` and hold an exclusive ``flock`` on it while it is written.

    A sweep by another process cannot slip in between the two: both happen under the
    directory's shared lock, which a sweep takes exclusively.
    """
    with _directory_lock(Path(path).parent, fcntl.LOCK_SH):
        create(path)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _directory_lock(directory: Path, kind: int) -> Iterator[None]:
    """Writers hold it shared from creating a temporary until they lock it; sweeps exclusively."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # an unreadable directory: no sweep can list it either
        yield
        return
    try:
        fcntl.flock(fd, kind)
        yield
    finally:
        os.close(fd)


def sweep_stale(output: Path) -> list[str]:
    """Remove temporaries of ``output`` that no running condapack holds; return their names."""
    pattern = re.compile(re.escape(temp_prefix(output)) + r"[A-Za-z0-9_]{8}\.(part|old)\Z")
    try:
        with _directory_lock(output.parent, fcntl.LOCK_EX):
            names = [n for n in os.listdir(output.parent) if pattern.match(n)]
            return [name for name in sorted(names) if _remove_if_unheld(output.parent / name)]
    except OSError:
        return []


def _remove_if_unheld(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False  # a live process is writing it
    try:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    finally:
        os.close(fd)
    return True


@contextlib.contextmanager
def atomic_output(output: Path, overwrite: bool = True, executable: bool = False) -> Iterator[BinaryIO]:
    """Yield a file beside ``output``; on success it replaces ``output``, else vanishes.

    The rename happens only when the block finishes without an exception, so a failing
    writer, Ctrl-C, a crash or a full disk never leave a partial archive at ``output``.
    Without ``overwrite`` the file is linked into place, which fails if ``output`` was
    created meanwhile (two packs to one path: one wins, the other says so).
    The data is not fsynced: that doubled the time of large packs, and a rename over a
    file is already flushed first by ext4, XFS and btrfs. An ``executable`` output gets
    the execute bits the umask allows.
    """
    tmp = temp_name(output, ".part")
    try:
        # Named before it exists, so that an interrupt at any moment knows what to remove.
        with created_and_held(tmp, _create_file), os.fdopen(os.open(tmp, os.O_RDWR | os.O_NOFOLLOW), "r+b") as fh:
            yield fh
            fh.flush()
            os.chmod(tmp, (0o777 if executable else 0o666) & ~umask())
            _publish(tmp, output, overwrite)
    except BaseException as exc:
        if not (isinstance(exc, FileExistsError) and exc.filename == str(tmp)):  # else: not ours
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise


def _create_file(path: str) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))


def _publish(tmp: str, output: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, output)
        return
    try:
        os.link(tmp, output)
    except FileExistsError:
        raise ArchiveError(f"File '{output}' already exists; pass --force to overwrite it") from None
    except OSError:  # no hard links on this file system: the check before packing must do
        os.replace(tmp, output)
        return
    os.unlink(tmp)
