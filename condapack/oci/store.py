"""Where an image's blobs go: an image layout directory, or an OCI archive written as it goes.

The archive is one tar streamed straight to its file, never staged as a directory
first: a blob whose size is not known before it is written (a layer being compressed)
gets a header block reserved in front of it, filled in once its digest and size are
known. Its members come in the order they were written: ``oci-layout``, the blobs,
``index.json`` last; the same image gives the same bytes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Protocol

from ..archive.tar import header
from .spec import blob_path

__all__ = ["BlobStore", "DirectoryStore", "ArchiveStore"]

_BLOCK = 512
_RECORD = 20 * _BLOCK
_CHUNK = 1 << 20


class BlobStore(Protocol):
    """Blobs and the layout's two files, written to a directory or an archive."""

    def begin(self) -> BinaryIO:
        """A file to write the next blob to, whose digest is not known yet."""

    def end(self, digest: str, size: int) -> None:
        """The blob begun last is complete: ``digest`` of ``size`` bytes."""

    def has(self, digest: str) -> bool:
        """Whether the blob is already stored."""

    def adopt(self, path: Path, digest: str) -> None:
        """Store the blob in the file ``path`` (which is moved or removed)."""

    def put(self, name: str, data: bytes) -> None:
        """One of the layout's files: ``oci-layout`` or ``index.json``."""


class DirectoryStore:
    """An image layout directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._part = root / "blobs" / "sha256" / ".blob.part"
        (root / "blobs" / "sha256").mkdir(parents=True)

    def begin(self) -> BinaryIO:
        return open(self._part, "wb")

    def end(self, digest: str, size: int) -> None:
        os.replace(self._part, self.root / blob_path(digest))

    def has(self, digest: str) -> bool:
        return (self.root / blob_path(digest)).exists()

    def adopt(self, path: Path, digest: str) -> None:
        os.replace(path, self.root / blob_path(digest))

    def put(self, name: str, data: bytes) -> None:
        (self.root / name).write_bytes(data)


class ArchiveStore:
    """An OCI archive (a tar of the layout) written to ``fh``, a seekable file, as blobs come."""

    def __init__(self, fh: BinaryIO, mtime: int) -> None:
        self.fh, self.mtime = fh, mtime
        self._stored: set[str] = set()
        self._start = 0
        for name in ("blobs", "blobs/sha256"):
            fh.write(header(name, "dir", 0o755, 0, mtime))

    def begin(self) -> BinaryIO:
        self._start = self.fh.tell()
        self.fh.write(b"\0" * _BLOCK)  # the header's place, filled in by end()
        return self.fh

    def end(self, digest: str, size: int) -> None:
        if digest in self._stored:  # the same blob twice: once is enough
            self.fh.seek(self._start)
            self.fh.truncate()
            return
        head = header(blob_path(digest), "file", 0o644, size, self.mtime)
        if len(head) > _BLOCK:  # over 8 GiB: the size needs a pax record, and room for it
            self.fh.flush()
            _move_up(self.fh.fileno(), self._start + _BLOCK, size, len(head) - _BLOCK)
        self.fh.seek(self._start)
        self.fh.write(head)
        self.fh.seek(0, os.SEEK_END)
        self.fh.write(b"\0" * (-size % _BLOCK))
        self._stored.add(digest)

    def has(self, digest: str) -> bool:
        return digest in self._stored

    def adopt(self, path: Path, digest: str) -> None:
        out = self.begin()
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                out.write(chunk)
            size = fh.tell()
        os.unlink(path)
        self.end(digest, size)

    def put(self, name: str, data: bytes) -> None:
        self.fh.write(header(name, "file", 0o644, len(data), self.mtime) + data + b"\0" * (-len(data) % _BLOCK))

    def close(self) -> None:
        """The end-of-archive blocks and the padding to a whole record."""
        end = 2 * _BLOCK
        self.fh.write(b"\0" * (end + (-(self.fh.tell() + end) % _RECORD)))


def _move_up(fd: int, start: int, size: int, by: int) -> None:
    """Move ``size`` bytes at ``start`` ``by`` bytes further into the file, last chunk first."""
    end = start + size
    while end > start:
        n = min(_CHUNK, end - start)
        os.pwrite(fd, os.pread(fd, n, end - n), end - n + by)
        end -= n
