"""Read an archive's members and what each takes in the archive, without unpacking it.

A zip member's share is its compressed size. A compressed tar is one stream, so the
stream is decompressed in small steps, recording how many compressed bytes had been
read when each member's header began; a member's share is the compressed bytes from its
header to the next one's. The shares therefore add up exactly to the compressed bytes
up to the last member; what follows (end blocks, trailers) is the archive's overhead.
"""

from __future__ import annotations

import bisect
import bz2
import lzma
import os
import tarfile
import zipfile
import zlib
from typing import Any, Callable, Optional

import attrs

from ..archive.formats import get_format, infer_format
from ..errors import ArchiveError

__all__ = ["Member", "Contents", "read_archive", "WANTED"]

#: Small steps keep the attribution of compressed bytes to small members close.
_STEP = 16 * 1024


def WANTED(name: str) -> bool:
    """The members whose bytes the report reads: package records and the slimming record."""
    return name.startswith("conda-meta/") and name.endswith(".json")


@attrs.frozen
class Member:
    """One archive member: its name (below the archive's root), size and compressed share."""

    name: str
    size: int
    stored: int


@attrs.frozen
class Contents:
    """An archive's members, the metadata members' bytes, and the bytes outside members."""

    fmt: str
    members: tuple[Member, ...]
    metadata: dict[str, bytes]
    overhead: int


def read_archive(path: str) -> Contents:
    """The members of the tar-based or zip archive at ``path``."""
    try:
        fmt = infer_format(path)
    except ArchiveError:
        fmt = "zip" if zipfile.is_zipfile(path) else "tar"
    container = get_format(fmt).container
    try:
        if container == "zip":
            return _zip(path)
        if container == "tar":
            return _tar(path, fmt, get_format(fmt).compression)
    except (OSError, tarfile.TarError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError) as exc:
        raise ArchiveError(f"{path}: not a readable {fmt} archive ({exc}); check that it is complete") from None
    raise ArchiveError(f"{path}: condapack size reads tar and zip archives, not {fmt}; size the environment "
                       "it was packed from instead")


def _zip(path: str) -> Contents:
    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        members = tuple(Member(i.filename, i.file_size, i.compress_size) for i in infos)
        metadata = {i.filename: zf.read(i) for i in infos if WANTED(_below_root(i.filename))}
    return _rooted(Contents("zip", members, metadata, os.path.getsize(path) - sum(m.stored for m in members)))


def _below_root(name: str) -> str:
    """Metadata is found by name inside conda-meta wherever the archive's root is."""
    at = name.find("conda-meta/")
    return name[at:] if at >= 0 else name


def _rooted(contents: Contents) -> Contents:
    """Strip the archive's root directory (``--arcroot``, a parcel's) from every name."""
    roots = {m.name[:m.name.find("conda-meta/")] for m in contents.members if "conda-meta/" in m.name}
    root = min(roots, key=len) if roots else ""
    if not root:
        return contents
    members = tuple(attrs.evolve(m, name=m.name[len(root):]) if m.name.startswith(root) else m
                    for m in contents.members)
    metadata = {k[len(root):] if k.startswith(root) else k: v for k, v in contents.metadata.items()}
    return attrs.evolve(contents, members=members, metadata=metadata)


Decoder = Callable[[], Any]

_DECODERS: dict[str, Decoder] = {
    "": lambda: None,
    "gz": lambda: zlib.decompressobj(wbits=31),
    "bz2": bz2.BZ2Decompressor,
    "xz": lzma.LZMADecompressor,
}


def _decoder(compression: str) -> Any:
    if compression == "zst":
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj()
    return _DECODERS[compression]()


class _Stream:
    """The decompressed bytes of a raw file, with checkpoints (decompressed, compressed) offsets."""

    def __init__(self, raw: Any, compression: str) -> None:
        self.raw, self.compression = raw, compression
        self.decoder = _decoder(compression)
        self.buffer, self.out, self.read_in = b"", 0, 0
        self.points: list[tuple[int, int]] = [(0, 0)]

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self.buffer) < n:
            if not self._fill():
                break
        data, self.buffer = (self.buffer, b"") if n < 0 else (self.buffer[:n], self.buffer[n:])
        return data

    def _fill(self) -> bool:
        chunk = self.raw.read(_STEP)
        if not chunk:
            return False
        self.read_in += len(chunk)
        out = chunk if self.decoder is None else self._decode(chunk)
        self.out += len(out)
        self.buffer += out
        self.points.append((self.out, self.read_in))
        return True

    def _decode(self, chunk: bytes) -> bytes:
        out = []
        while chunk:
            if self.decoder.eof:
                self.decoder = _decoder(self.compression)
            out.append(self.decoder.decompress(chunk))
            chunk = self.decoder.unused_data if self.decoder.eof else b""
        return b"".join(out)

    def compressed_at(self, offset: int) -> int:
        """The compressed offset of a decompressed one, interpolated between checkpoints."""
        at = bisect.bisect_left(self.points, (offset, -1))
        if at >= len(self.points):
            return self.points[-1][1]
        out1, in1 = self.points[at]
        if at == 0 or out1 == offset:
            return in1
        out0, in0 = self.points[at - 1]
        return in0 + (in1 - in0) * (offset - out0) // (out1 - out0)


def _tar(path: str, fmt: str, compression: str) -> Contents:
    with open(path, "rb") as raw:
        stream = _Stream(raw, compression)
        starts: list[tuple[str, int, int]] = []
        metadata: dict[str, bytes] = {}
        with tarfile.open(fileobj=stream, mode="r|") as tf:  # type: ignore[call-overload]
            for info in tf:
                if info.isdir():
                    continue
                starts.append((info.name, info.size if info.isfile() else 0, info.offset))
                if info.isfile() and WANTED(_below_root(info.name)):
                    metadata[info.name] = _read(tf, info)
            end = _data_end(tf)
        marks = [stream.compressed_at(o) for o in [*(s[2] for s in starts), end]] if starts else [0]
        members = tuple(Member(name, size, marks[i + 1] - marks[i]) for i, (name, size, _) in enumerate(starts))
    total = os.path.getsize(path)
    return _rooted(Contents(fmt, members, metadata, total - sum(m.stored for m in members)))


def _read(tf: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    fh: Optional[Any] = tf.extractfile(info)
    return fh.read() if fh is not None else b""


def _data_end(tf: tarfile.TarFile) -> int:
    """Where the last member's data (padded to a block) ends in the decompressed stream."""
    members = tf.getmembers()
    if not members:
        return 0
    last = members[-1]
    padded = -(-last.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE if last.isfile() else 0
    return int(last.offset_data) + padded
