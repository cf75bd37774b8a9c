"""Write members as a plain directory tree (the ``no-archive`` format, squashfs staging).

Files are always copied, never hard-linked, so running ``conda-unpack`` in the output
cannot change the environment that was packed or anything else on the machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Optional

from ..errors import ArchiveError
from ..members import Member, size_changed
from ..output import created_and_held, temp_name, umask

if TYPE_CHECKING:
    from .request import WriteRequest

__all__ = ["write_archive", "write_tree", "atomic_directory", "replace_directory"]

Progress = Callable[[int], None]


def write_tree(root: Path, members: tuple[Member, ...], mtime: int, progress: Progress) -> None:
    """Create every member below ``root`` (which exists and is empty)."""
    _check_depth(root, members)
    made: set[str] = set()
    for member in members:
        path = root / member.name
        _parents(root, member.name, made)
        if member.kind == "dir":
            path.mkdir(exist_ok=True)
            made.add(member.name)
        elif member.kind == "symlink":
            os.symlink(member.link_target or "", path)
            os.utime(path, (mtime, mtime), follow_symlinks=False)
        else:
            _write_file(path, member)
            os.chmod(path, member.mode)
            os.utime(path, (mtime, mtime))
        progress(member.size)
    for directory in sorted(made, reverse=True):
        os.chmod(root / directory, 0o755)
        os.utime(root / directory, (mtime, mtime))


def _check_depth(root: Path, members: tuple[Member, ...]) -> None:
    """Refuse, before anything is written, a member whose path below ``root`` would be longer than
    the system takes (midway through, it would fail as if the disk were full)."""
    if not members:
        return
    deepest = max((m.name for m in members), key=lambda name: len(os.fsencode(name)))
    length = len(os.fsencode(root)) + 1 + len(os.fsencode(deepest))
    limit = _path_max(root)
    if limit is not None and length >= limit:
        raise ArchiveError(f"cannot write {deepest} below {root.parent}: its path would be {length} bytes, and "
                           f"this system allows {limit - 1}; choose an output (for squashfs, a TMPDIR) with a "
                           "shorter path, --exclude it, or pack to tar or zip")


def _path_max(root: Path) -> Optional[int]:
    """The bytes a path below ``root`` may take, with its NUL; None where the system does not say."""
    if not hasattr(os, "pathconf"):  # Windows
        return None
    try:
        return os.pathconf(root, "PC_PATH_MAX")
    except (OSError, ValueError):
        return None


def _parents(root: Path, name: str, made: set[str]) -> None:
    parts = name.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        rel = "/".join(parts[:i])
        if rel not in made:
            (root / rel).mkdir(exist_ok=True)
            made.add(rel)


def _write_file(path: Path, member: Member) -> None:
    if member.streamable:
        assert member.source is not None
        shutil.copyfile(member.source, path, follow_symlinks=True)
        if path.stat().st_size != member.size:
            raise size_changed(member.source)
    else:
        path.write_bytes(member.read())


@contextlib.contextmanager
def atomic_directory(output: Path) -> Iterator[Path]:
    """Yield an empty directory beside ``output`` that replaces it on success."""
    tmp = Path(temp_name(output, ".part"))
    try:
        with created_and_held(str(tmp), lambda path: os.mkdir(path, 0o700)):
            yield tmp
            os.chmod(tmp, 0o777 & ~umask())
            replace_directory(tmp, output)
    except BaseException as exc:
        if not (isinstance(exc, FileExistsError) and exc.filename == str(tmp)):  # else: not ours
            shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_directory(tmp: Path, output: Path) -> None:
    """Rename the finished directory ``tmp`` over ``output`` (a directory, a file or nothing)."""
    old = None
    if output.exists() or output.is_symlink():
        old = Path(temp_name(output, ".old"))
        old.mkdir(mode=0o700)
        os.rename(output, old / "x")
    os.rename(tmp, output)
    if old is not None:
        shutil.rmtree(old)


def write_archive(request: WriteRequest) -> None:
    """The ``no-archive`` format's writer: the members as a directory at the output."""
    with request.directory() as root:
        write_tree(root, request.roster.members, request.roster.mtime, request.advance)
