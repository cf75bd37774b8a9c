"""Self-installing archives (format ``sh``): a POSIX sh header, then a compressed tar.

The header (``scripts/installer.sh``) is readable; it finds its payload at a byte
offset it records and streams it with ``tail -c +N | gzip -dc | tar -x``. Its sha256,
size and the space the environment needs are patched in once the payload is written:
their fields have fixed widths, so the header's length is known before they are.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable

from ..errors import ArchiveError
from ..members import Roster
from ..relocation import script_bytes
from ..unpack.quoting import sh_word
from .tar import write_compressed_tar

if TYPE_CHECKING:
    from .request import WriteRequest

__all__ = ["write_archive", "write_installer", "render_header"]

_TEMPLATE = Path(__file__).parent.parent / "scripts" / "installer.sh"
_WIDTH = 20
_NAMES = {"gz": "gzip", "xz": "xz", "zst": "zstd"}
# A block of a file system per member, on top of the bytes: a generous estimate.
_PER_MEMBER_KIB = 4

Progress = Callable[[int], None]


def _number(value: int) -> str:
    # Padded with spaces, which end a shell assignment: the width never changes.
    return f"{value:<{_WIDTH}d}"


def render_header(name: str, compression: str, sha256: str, size: int, need_kib: int) -> bytes:
    """The header for these values; its length depends only on the names."""
    if any(c in name for c in "\n\r\0"):
        raise ArchiveError(f"{name!r}: an environment name with a line break cannot go into a sh installer; "
                           "rename the environment")
    template = script_bytes(_TEMPLATE).decode("utf-8")
    values = {"@NAME@": name, "@QNAME@": sh_word(name),
              "@COMPRESSION@": _NAMES[compression], "@SHA256@": sha256.ljust(64), "@SIZE@": _number(size),
              "@NEED_KIB@": _number(need_kib), "@OFFSET@": _number(0)}
    text = template
    for key in ("@NAME@", "@QNAME@", "@COMPRESSION@", "@SHA256@", "@SIZE@", "@NEED_KIB@"):
        text = text.replace(key, values[key])
    length = len(text.replace("@OFFSET@", _number(0)).encode("utf-8", "surrogateescape"))
    return text.replace("@OFFSET@", _number(length + 1)).encode("utf-8", "surrogateescape")


def _sha256(fd: int, start: int, end: int) -> str:
    digest = hashlib.sha256()
    pos = start
    while pos < end:
        chunk = os.pread(fd, min(1 << 20, end - pos), pos)
        if not chunk:
            break
        digest.update(chunk)
        pos += len(chunk)
    return digest.hexdigest()


def write_installer(fh: BinaryIO, roster: Roster, progress: Progress, *, name: str, compression: str, level: int,
                    threads: int) -> None:
    """Header, then the tar payload, then the header again with the payload's digest."""
    need_kib = roster.total_bytes // 1024 + _PER_MEMBER_KIB * len(roster.members)
    head = render_header(name, compression, "", 0, need_kib)
    fh.write(head)
    fh.flush()
    write_compressed_tar(fh, roster, progress, compression=compression, level=level, threads=threads)
    fh.flush()
    fd = fh.fileno()
    end = os.lseek(fd, 0, os.SEEK_END)
    final = render_header(name, compression, _sha256(fd, len(head), end), end - len(head), need_kib)
    assert len(final) == len(head)
    os.pwrite(fd, final, 0)


def write_archive(request: WriteRequest) -> None:
    """The self-installing formats' writer: an executable script named after the environment."""
    with request.file(executable=True) as out:
        write_installer(out, request.roster, request.advance, name=request.env_name,
                        compression=request.format.compression, level=request.options.compress_level,
                        threads=request.options.threads)
