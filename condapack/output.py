"""Write an output atomically: a temporary file beside the target, renamed into place.

Temporary files are named ``.NAME.XXXXXXXX.part`` (``.old`` for a directory output
being replaced) and held with ``flock`` while in use, so the next pack to the same
output can tell the ones a killed run left behind and remove them. Windows has no
``flock``, but a file held open there cannot be deleted: a temp file is held open from
its creation on and a sweep removes only what it can delete; temp directories, which
cannot be held, are left for the user there. Windows cannot rename a file that is open
either, so the output is published after it is closed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, Optional, Union

from .bounded import NotAFile, TooLarge, read_bounded
from .errors import ArchiveError, CondaPackError

__all__ = ["check_output", "atomic_output", "temp_prefix", "temp_name", "created_and_held", "sweep_stale",
           "sweep_temps", "umask", "publish", "write_if_changed", "write_atomic"]

WINDOWS = sys.platform == "win32"
if not WINDOWS:
    import fcntl
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # Windows has none (nor symbolic links a user makes by default)
# Windows opens descriptors in text mode (CRLF translation) unless told otherwise.
_BINARY = getattr(os, "O_BINARY", 0)


def check_output(output: Path, prefix: Path, force: bool, replaces_directory: bool = False,
                 marker: str = "conda-meta") -> None:
    """Refuse outputs that would clobber a file or land inside the environment.

    With ``replaces_directory`` (the ``no-archive`` format, an OCI layout) ``--force`` may
    replace an existing directory, but only one that holds ``marker`` (an environment's
    ``conda-meta``, an image layout's ``oci-layout``).
    """
    if (output.exists() or output.is_symlink()) and not force:
        raise ArchiveError(f"File '{output}' already exists; pass --force to overwrite it")
    if output.is_dir() and not (replaces_directory and (output / marker).exists()
                                and not output.is_symlink()):
        if replaces_directory:
            what, earlier = ("environment", "no-archive") if marker == "conda-meta" else ("image layout", "oci")
            raise ArchiveError(f"Output '{output}' is a directory that holds no {what}; --force only "
                               f"replaces an earlier {earlier} output: choose another -o/--output")
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
    return str(output.parent / f"{temp_prefix(output)}{os.urandom(4).hex()}{suffix}")


@contextlib.contextmanager
def created_and_held(path: str, create: Callable[[str], Optional[int]]) -> Iterator[None]:
    """Create a temporary with ``create`` and hold an exclusive ``flock`` on it while it is written.

    ``create`` may return a descriptor of what it made, held from then on. A sweep by
    another process cannot slip in between the two: both happen under the directory's
    mutex, which writers share and a sweep takes exclusively. On Windows the open descriptor is the
    hold (a directory, which cannot be opened there, is not held).
    """
    if WINDOWS:
        fd = create(path)
    else:
        with _directory_mutex(Path(path).parent, fcntl.LOCK_SH):
            made = create(path)
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW) if made is None else made
            fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


@contextlib.contextmanager
def _directory_mutex(directory: Path, kind: int) -> Iterator[None]:
    """The directory's mutex: writers share it from creating a temporary until they hold it; sweeps take it alone."""
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
        if WINDOWS:
            names = [n for n in os.listdir(output.parent) if pattern.match(n)]
            return [name for name in sorted(names) if _remove_if_closed(output.parent / name)]
        with _directory_mutex(output.parent, fcntl.LOCK_EX):
            names = [n for n in os.listdir(output.parent) if pattern.match(n)]
            return [name for name in sorted(names) if _remove_if_unheld(output.parent / name)]
    except OSError:
        return []


def sweep_temps(paths: Iterable[Path]) -> list[str]:
    """Remove the temporaries of :func:`write_atomic` beside ``paths``; return their names.

    Only for files whose every writer holds one mutex, which the caller holds: then no
    temporary there is a live writer's, and any found was left by a run killed outright.
    """
    prefixes: dict[Path, list[str]] = {}
    for path in paths:
        prefixes.setdefault(path.parent, []).append(re.escape(temp_prefix(path)))
    removed = []
    for directory, names in prefixes.items():
        pattern = re.compile(f"(?:{'|'.join(names)})[0-9a-f]{{8}}\\.tmp\\Z")
        with contextlib.suppress(OSError):
            for name in filter(pattern.match, os.listdir(directory)):
                os.unlink(directory / name)
                removed.append(name)
    return removed


def _remove_if_closed(path: Path) -> bool:
    """Windows: a temp file is deleted unless a live condapack holds it open."""
    if path.is_symlink() or not path.is_file():
        return False  # a directory cannot be held there: it may be in use
    try:
        path.unlink()
    except OSError:
        return False
    return True


def _remove_if_unheld(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
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
    created meanwhile (two packs to one path: one wins, the other says so; NTFS has hard
    links too).
    The data is not fsynced: that doubled the time of large packs, and a rename over a
    file is already flushed first by ext4, XFS and btrfs. An ``executable`` output gets
    the execute bits the umask allows.
    """
    tmp = temp_name(output, ".part")
    try:
        # Named before it exists, so that an interrupt at any moment knows what to remove.
        with created_and_held(tmp, _create_file), os.fdopen(os.open(tmp, os.O_RDWR | _NOFOLLOW | _BINARY), "r+b") as fh:
            yield fh
            fh.flush()
            os.chmod(tmp, (0o777 if executable else 0o666) & ~umask())
            if not WINDOWS:
                _publish(tmp, output, overwrite)
        if WINDOWS:  # only a closed file can be renamed there
            _publish(tmp, output, overwrite)
    except BaseException as exc:
        if not (isinstance(exc, FileExistsError) and exc.filename == str(tmp)):  # else: not ours
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise


def _create_file(path: str) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY, 0o600)


def _publish(tmp: str, output: Path, overwrite: bool) -> None:
    try:
        _link_or_replace(tmp, output, overwrite)
    except FileNotFoundError:
        if os.path.lexists(tmp):
            raise
        # Windows: the file is closed before this rename, and a pack to the same output
        # that started meanwhile may have swept it as a killed run's leftover.
        raise ArchiveError(f"the finished archive for '{output}' was removed before it was put in place (by "
                           "another pack to the same output?); pack again, one pack per output at a time") from None


def publish(tmp: str, final: Path, overwrite: bool = True) -> bool:
    """Put the finished temporary ``tmp`` in place as ``final``; False when ``final`` exists and stays.

    With ``overwrite`` it is renamed over ``final``. Without, it is linked into place, which
    fails if ``final`` exists, however recently created (of two writers, one wins), and
    ``tmp`` is removed; a file system without hard links gets the rename: the caller's
    check that ``final`` did not exist must do there.
    """
    if not overwrite:
        try:
            os.link(tmp, final)
        except FileExistsError:
            return False
        except OSError:
            pass
        else:
            os.unlink(tmp)
            return True
    os.replace(tmp, final)
    return True


def _link_or_replace(tmp: str, output: Path, overwrite: bool) -> None:
    try:
        published = publish(tmp, output, overwrite)
    except PermissionError:
        # Windows refuses to replace a file another program holds open; the OS's text
        # for it differs between versions, so the message names both possible causes.
        raise ArchiveError(f"cannot replace '{output}': it is open in another program or not writable; "
                           "close it or fix its permissions, then pack again") from None
    if not published:
        raise ArchiveError(f"File '{output}' already exists; pass --force to overwrite it")


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write atomically unless the file already holds ``data``; return True if written."""
    try:
        # one byte past ``data`` tells a longer file apart without reading it all
        if read_bounded(path, len(data), own=True) == data:
            return False
    except (FileNotFoundError, TooLarge):
        pass
    except NotAFile:
        if not os.path.islink(path):
            raise  # a symbolic link is replaced, never written through
    write_atomic(path, data)
    return True


def _write_all(fd: int, data: Union[bytes, Iterable[bytes]]) -> None:
    """Write ``data`` (bytes, or chunks of them) to a new file's descriptor and close it."""
    with os.fdopen(fd, "wb") as fh:
        if isinstance(data, bytes):
            fh.write(data)
        else:
            fh.writelines(data)


def write_atomic(path: Path, data: Union[bytes, Iterable[bytes]]) -> None:
    """Replace ``path`` with ``data`` through a new temp beside it (never written through a link).

    ``data`` may come as chunks, written as they come: a big file need not be in memory whole.
    """
    tmp = temp_name(path, ".tmp")
    try:
        _write_all(_create_file(tmp), data)
        os.chmod(tmp, 0o666 & ~umask())
        publish(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise CondaPackError(f"cannot write {path}: {exc.strerror or exc}; free some space (or fix the "
                                 "directory's permissions) and run again") from None
        raise
