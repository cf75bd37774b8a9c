"""sha256 digests and sizes of files and of outputs (a file, or a directory for ``no-archive``)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional

__all__ = ["file_digest", "tree_digest", "content_digest", "content_size"]


def file_digest(path: str) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def tree_digest(root: Path) -> str:
    """A digest of a directory output: every path, kind, mode bit and content."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            digest.update(f"L {rel} {os.readlink(path)}\n".encode())
        elif path.is_file():
            mode = "x" if os.access(path, os.X_OK) else "-"
            digest.update(f"F {rel} {mode} {file_digest(str(path))}\n".encode())
        else:
            digest.update(f"D {rel}\n".encode())
    return digest.hexdigest()


def content_digest(path: Path) -> str:
    """The sha256 of an output file, or :func:`tree_digest` of an output directory."""
    return tree_digest(path) if path.is_dir() else file_digest(str(path))


def content_size(path: Path) -> Optional[int]:
    """Bytes of an output file, or of the regular files in an output directory; None if missing."""
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return None
