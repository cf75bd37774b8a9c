"""conda-unpack's writes: one file changed in place, its original bytes journaled first.

A binary gets its recorded fields overwritten, a text file is rewritten where it is
(from memory when small, streamed from its copy in the journal when large), so memory
stays bounded whatever a file's size. A file that cannot be written in place (a running
program, a read-only file, one hard-linked elsewhere) is replaced by a changed copy
written beside it, its original kept aside until the run is over.

Stdlib-only and Python 3.6 compatible, like the rest of the package.
"""

import errno
import os

from .journal import ORIG, chunks_of, read_at, write_at
from .rewrite import holds, relocate, replace_chunks
from .safepath import UnsafePath, io_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, List, Optional, Sequence, Tuple

    from .journal import Journal

SUFFIX = ".condapack-unpack"
# Text files up to this size are rewritten from memory, larger ones in chunks (on
# Windows, where the prefix has three spellings, every text file from memory).
SMALL_TEXT = 4 << 20
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# Windows opens descriptors in text mode (CRLF translation) unless told otherwise.
O_BINARY = getattr(os, "O_BINARY", 0)


def open_target(target: str, st: os.stat_result, flags: int = os.O_RDONLY) -> int:
    """A descriptor of ``target``, refused unless it is the file ``st`` described."""
    fd = os.open(io_path(target), flags | _NOFOLLOW | O_BINARY)
    now = os.fstat(fd)
    if (now.st_ino, now.st_dev) != (st.st_ino, st.st_dev):
        os.close(fd)
        raise UnsafePath("was replaced while conda-unpack ran")
    return fd


def change(journal: "Journal", rel: str, target: str, st: os.stat_result, patches: "Optional[List[Tuple[int, bytes]]]",
           old: bytes, new: bytes, windows: bool = False) -> int:
    """Change one file in place; one that cannot be written in place (a running program,
    read-only, hard-linked elsewhere) is replaced by a changed copy instead."""
    fd = None
    if st.st_nlink == 1:
        try:
            fd = open_target(target, st, os.O_RDWR)
        except OSError as exc:
            if exc.errno not in (errno.ETXTBSY, errno.EACCES, errno.EPERM, errno.EROFS):
                raise
    if fd is None:
        return replace_by_copy(journal, rel, target, st, patches, old, new, windows)
    try:
        if patches is None:
            return rewrite_text(journal, rel, st, fd, old, new, windows)
        for off, data in patches:
            journal.save(rel, st, off, read_at(fd, len(data), off))
            write_at(fd, data, off)
        return 1
    finally:
        os.close(fd)


def in_memory(st: os.stat_result, windows: bool) -> bool:
    return windows or st.st_size <= SMALL_TEXT


def rewrite_text(journal: "Journal", rel: str, st: os.stat_result, fd: int, old: bytes, new: bytes,
                 windows: bool) -> int:
    """Rewrite a text file where it is: whole when small, else streamed from its copy in
    the journal (memory stays bounded whatever the size)."""
    if in_memory(st, windows):
        data = read_at(fd, st.st_size, 0)
        result = relocate(data, old, new, "text", 0, windows)
        if result == data:
            return 0
        journal.save(rel, st, 0, data)
        write_at(fd, result, 0)
        size = len(result)
    else:
        if not holds(chunks_of(fd, 0, st.st_size), old):
            return 0
        size = 0
        for piece in replace_chunks(journal.save_file(rel, st, fd), old, new):
            write_at(fd, piece, size)
            size += len(piece)
    if size < st.st_size:
        os.ftruncate(fd, size)
    return 1


def replace_by_copy(journal: "Journal", rel: str, target: str, st: os.stat_result,
                    patches: "Optional[List[Tuple[int, bytes]]]", old: bytes, new: bytes, windows: bool) -> int:
    """Write the changed content beside ``target`` and rename it over; the original stays
    aside (a hard link, journaled) until the run is over."""
    fd = open_target(target, st)
    try:
        content: "Iterable[bytes]" = chunks_of(fd, 0, st.st_size)
        if patches is None and in_memory(st, windows):
            data = read_at(fd, st.st_size, 0)
            content = [relocate(data, old, new, "text", 0, windows)]
            if content[0] == data:
                return 0
        elif patches is None:
            if not holds(chunks_of(fd, 0, st.st_size), old):
                return 0
            content = replace_chunks(content, old, new)
        tmp = create_beside(target, content, st.st_mode & 0o7777, patches or ())
    finally:
        os.close(fd)
    journal.replaced(rel)
    os.link(io_path(target), io_path(target + ORIG))
    os.replace(io_path(tmp), io_path(target))
    return 1


def discard_temps(written: "Sequence[Tuple[str, str]]") -> None:
    for tmp, _ in written:
        try:
            os.unlink(io_path(tmp))
        except OSError:
            pass


def create_beside(target: str, chunks: "Iterable[bytes]", mode: int,
                  patches: "Sequence[Tuple[int, bytes]]" = ()) -> str:
    """Write ``chunks`` (of bytes), then ``patches`` (offset, bytes), to a new file beside
    ``target``, never through a link; return its path."""
    tmp = target + SUFFIX
    try:
        fd = os.open(io_path(tmp), os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | O_BINARY, 0o600)
        try:
            end = 0
            for chunk in chunks:
                write_at(fd, chunk, end)
                end += len(chunk)
            for off, chunk in patches:
                write_at(fd, chunk, off)
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
        finally:
            os.close(fd)
        if not hasattr(os, "fchmod"):  # Windows before 3.13: the read-only bit only
            os.chmod(io_path(tmp), mode)
    except BaseException as exc:
        if not (isinstance(exc, OSError) and exc.errno == errno.EEXIST):  # else: not ours
            discard_temps([(tmp, target)])
        raise
    return tmp
