"""How one block of an archive stream is compressed, the same way at any thread count.

Deflate (gzip blocks, zip members) goes to libdeflate (PyPI ``deflate``: faster than
zlib and denser at equal level), or to ISA-L (python-isal: faster still, a little
larger) at the fastest levels and for blocks that barely shrink anyway (compressed
data). Which one is decided before compressing, from a cheap estimate: a sample of the
block deflated by ISA-L at its fastest level. So no block is deflated twice, and the
choice depends only on the block's bytes. libdeflate compresses a whole buffer at once,
so one deflate stream longer than a block (a big zip member) is written by zlib-ng
instead, block by block, each primed with the previous 32 KiB. bzip2 and xz blocks are
each a complete stream. The docs' performance page gives the measurements behind
``LEVELS``.
"""

from __future__ import annotations

import bz2
import functools
import lzma
import struct
import zlib
from typing import Any, Callable

import attrs
import deflate as libdeflate
from isal import isal_zlib
from zlib_ng import zlib_ng

from ..members import Content

__all__ = ["Codec", "LEVELS", "NEVER", "Job", "deflate", "deflate_job", "gzip_member", "gzip_block_job",
           "bz2_job", "xz_job", "xz_block_size", "estimated_ratio", "WINDOW"]

#: How much of the previous block primes the next one of a deflate stream.
WINDOW = 1 << 15

#: ``Codec.isal_above`` for a level that sends no block to ISA-L.
NEVER = 2.0

#: One block's compression: (block, the previous block's last ``WINDOW`` bytes, whether it
#: is the stream's last block) -> its compressed bytes.
Job = Callable[[bytes, bytes, bool], bytes]


@attrs.frozen
class Codec:
    """How one compression level deflates a block.

    Blocks whose estimated ratio (see :func:`estimated_ratio`) is above ``isal_above``
    go to ISA-L at ``isal``; the others to libdeflate at ``dense``, or zlib-ng at
    ``streamed`` inside a stream that spans blocks. ``isal_above`` 0 sends every block
    to ISA-L, ``NEVER`` none, and neither needs the estimate.
    """

    isal: int
    dense: int
    streamed: int
    isal_above: float


def _isal_only(level: int) -> Codec:
    return Codec(level, 0, 0, 0.0)


#: conda-pack level (index) -> codec, for gzip blocks and zip members alike. Level 0
#: stores (like gzip -0), 1-3 are ISA-L's. From 4 up, ISA-L gets only blocks that barely
#: shrink (compressed data), where it loses nothing; the default (4) must stay no larger
#: than zlib 4's output (conda-pack's), so ISA-L's larger output is kept from compressible
#: blocks. Big zip members, one stream over primed blocks (which libdeflate cannot
#: write), go to zlib-ng at the lowest level that stays no larger than zlib 4.
LEVELS: tuple[Codec, ...] = (
    Codec(0, 0, 0, 0.0), _isal_only(1), _isal_only(2), _isal_only(3), Codec(3, 4, 5, 0.8),
    Codec(3, 6, 6, 0.8), Codec(3, 7, 7, NEVER), Codec(3, 8, 8, NEVER), Codec(3, 9, 9, NEVER),
    Codec(3, 10, 9, NEVER))


def _deflate(module: Any, level: int, block: Content, previous: bytes, last: bool) -> bytes:
    """Raw deflate through a compressor object, primed with ``previous``; a sync flush
    unless ``last``. (ISA-L's one-shot ``compress`` was seen giving a different, valid,
    encoding of the same bytes from run to run: compressor objects do not.)"""
    if previous:
        cobj = module.compressobj(level, module.DEFLATED, -15, 8, module.Z_DEFAULT_STRATEGY, previous)
    else:
        cobj = module.compressobj(level, module.DEFLATED, -15, 8)
    out: bytes = cobj.compress(block) + cobj.flush(module.Z_FINISH if last else module.Z_SYNC_FLUSH)
    return out


def _to_isal(codec: Codec, block: Content, sample: bool = True) -> bool:
    if codec.isal_above >= NEVER:
        return False
    if codec.isal_above <= 0.0:
        return True
    return sample and estimated_ratio(block) > codec.isal_above


def deflate(data: Content, level: int, sample: bool = True) -> bytes:
    """One whole raw-deflate stream of ``data`` (a small zip member, a gzip block);
    with ``sample`` false, never ISA-L at a level that would ask the estimate."""
    codec = LEVELS[level]
    if level == 0 or not _to_isal(codec, data, sample):
        return bytes(libdeflate.deflate_compress(data, codec.dense))
    return _deflate(isal_zlib, codec.isal, data, b"", True)


@functools.lru_cache(maxsize=None)
def deflate_job(level: int) -> Job:
    """One block of a deflate stream that spans blocks (a big zip member): primed with
    the previous block's last 32 KiB, ending with a sync flush unless it is the last."""
    codec = LEVELS[level]
    if level == 0:
        return lambda block, previous, last: _deflate(zlib, 0, block, previous, last)

    def job(block: bytes, previous: bytes, last: bool) -> bytes:
        if _to_isal(codec, block):
            return _deflate(isal_zlib, codec.isal, block, previous, last)
        return _deflate(zlib_ng, codec.streamed, block, previous, last)

    return job


# A gzip header with no name and mtime 0, so the bytes never depend on when or where.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def gzip_member(block: bytes, level: int) -> bytes:
    """``block`` as one complete gzip member."""
    trailer = struct.pack("<II", isal_zlib.crc32(block) & 0xFFFFFFFF, len(block) & 0xFFFFFFFF)
    return _GZIP_HEADER + deflate(block, level) + trailer


@functools.lru_cache(maxsize=None)
def gzip_block_job(level: int) -> Job:
    """One block of a gzip stream: a member of its own (an empty last block adds none,
    unless the stream would be empty)."""

    def job(block: bytes, previous: bytes, last: bool) -> bytes:
        return gzip_member(block, level) if block or not previous else b""

    return job


_SLICES = 8
_SLICE = 8 << 10


def estimated_ratio(block: Content) -> float:
    """How well ``block`` deflates, judged from eight 8 KiB slices spread over it."""
    if len(block) <= _SLICES * _SLICE:
        sample = block
    else:
        step = len(block) // _SLICES
        sample = b"".join(block[i * step:i * step + _SLICE] for i in range(_SLICES))
    if not sample:
        return 1.0
    cobj = isal_zlib.compressobj(1, isal_zlib.DEFLATED, -15, 8)
    return len(cobj.compress(sample) + cobj.flush()) / len(sample)


def bz2_job(level: int) -> Job:
    """One block of a bzip2 stream: a complete bzip2 stream of its own."""

    def job(block: bytes, previous: bytes, last: bool) -> bytes:
        return bz2.compress(block, max(1, level)) if block or not previous else b""

    return job


def xz_job(level: int) -> Job:
    """One block of an xz stream: a complete xz stream of its own."""

    def job(block: bytes, previous: bytes, last: bool) -> bytes:
        if not block and previous:
            return b""
        return lzma.compress(block, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=level)

    return job


def xz_block_size(level: int) -> int:
    """Two dictionaries' worth of input per xz stream (the dictionary grows with level)."""
    dict_size = {0: 256 << 10, 1: 1 << 20, 2: 2 << 20, 3: 4 << 20, 4: 4 << 20, 5: 8 << 20,
                 6: 8 << 20, 7: 16 << 20, 8: 32 << 20, 9: 64 << 20}[level]
    return 2 * dict_size
