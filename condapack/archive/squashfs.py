"""squashfs images through ``mksquashfs`` (Debian/Ubuntu package ``squashfs-tools``).

Levels follow conda-pack: 0 stores uncompressed, 1-8 use zstd at level ``level * 20 // 8``
(needs kernel >= 4.14 or squashfuse built with zstd to mount), 9 uses xz (mountable
everywhere). Images are reproducible: every inode is owned by root and dated with the
archive mtime, and so is the superblock.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable

from ..errors import ArchiveError
from ..members import Member
from .directory import write_tree

if TYPE_CHECKING:
    from .request import WriteRequest

__all__ = ["write_archive", "write_squashfs", "compression_args"]

Progress = Callable[[int], None]


def compression_args(level: int) -> list[str]:
    """mksquashfs flags for a conda-pack compression level."""
    if level == 0:
        return ["-noI", "-noD", "-noF", "-noX"]
    if level == 9:
        return ["-comp", "xz"]
    return ["-comp", "zstd", "-Xcompression-level", str(max(1, level * 20 // 8)), "-b", str(256 * 1024)]


def write_squashfs(out: BinaryIO, members: tuple[Member, ...], mtime: int, progress: Progress, *,
                   level: int, threads: int) -> None:
    """Stage the members in a directory, then write the image to ``out``."""
    mksquashfs = shutil.which("mksquashfs")
    if mksquashfs is None:
        raise ArchiveError("format squashfs needs the mksquashfs command; install squashfs-tools "
                           "(e.g. apt-get install squashfs-tools) or choose another format")
    with tempfile.TemporaryDirectory(prefix="condapack-squashfs-") as tmp:
        stage = Path(tmp) / "root"
        stage.mkdir()
        write_tree(stage, members, mtime, progress)
        image = Path(tmp) / "image.squashfs"
        cmd = [mksquashfs, str(stage), str(image), "-noappend", "-no-progress", "-quiet", "-all-root",
               "-mkfs-time", str(mtime), "-all-time", str(mtime), "-processors", str(max(1, threads)),
               *compression_args(level)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise ArchiveError(f"mksquashfs failed: {detail[-1] if detail else result.returncode}")
        with open(image, "rb") as fh:
            shutil.copyfileobj(fh, out, 1 << 20)


def write_archive(request: WriteRequest) -> None:
    """The squashfs format's writer."""
    with request.file() as out:
        write_squashfs(out, request.roster.members, request.roster.mtime, request.advance,
                       level=request.options.compress_level, threads=request.options.threads)
