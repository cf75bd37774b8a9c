"""Byte sinks that compress an archive stream, in parallel and deterministically.

Parallel compression splits the stream into blocks at fixed offsets, so the output
depends only on the input and the level, never on the thread count:

- gzip: pigz's scheme. Each block is raw deflate primed with the previous block's last
  32 KiB and ends with a sync flush; the blocks form one ordinary gzip member.
- bzip2 and xz: each block is a complete stream; concatenated streams are standard
  (bzip2, xz, GNU tar and Python all read them).
- zstd: zstd's own multi-threaded mode, whose output is independent of the worker count.

gzip deflates each block with ISA-L (python-isal, 5-8x faster than zlib) or, for blocks
that look like text, with zlib-ng, whose slower match finder shrinks text, source code and
bytecode much more. Which one is decided before compressing, from a cheap estimate: a
64 KiB sample of the block (eight 8 KiB slices) deflated by ISA-L at its fastest level.
So no block is deflated twice, and the choice depends only on the block's bytes. Both
write raw deflate primed with the same dictionary, so either fits. ``GZIP_LEVELS`` gives
the mapping (the default level 4: ISA-L 3, or zlib-ng 5 when the sample shrinks below
0.35 of its size).
"""

from __future__ import annotations

import bz2
import collections
import functools
import lzma
import os
import struct
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO, Callable, Deque, Optional, Protocol

import zstandard
from isal import isal_zlib
from zlib_ng import zlib_ng

__all__ = ["Sink", "RawSink", "BlockSink", "ZstdSink", "open_sink", "GZIP_LEVELS", "ZIP_LEVELS", "gzip_block_job",
           "deflate_job", "deflate", "estimated_ratio", "ALWAYS"]

_CHUNK = 1 << 20
_WINDOW = 1 << 15

#: conda-pack level (index) -> (ISA-L level, zlib-ng level or None, estimated ratio below
#: which a block goes to zlib-ng instead; ``ALWAYS`` skips the estimate). Level 0 stores,
#: like gzip -0.
ALWAYS = 2.0
Levels = tuple[tuple[int, Optional[int], float], ...]
GZIP_LEVELS: Levels = (
    (0, None, 0.0), (1, None, 0.0), (2, None, 0.0), (3, None, 0.0), (3, 5, 0.35), (3, 6, 0.5),
    (3, 6, ALWAYS), (3, 7, ALWAYS), (3, 8, ALWAYS), (3, 9, ALWAYS))


class Sink(Protocol):
    """Where a writer sends archive bytes."""

    def write(self, data: bytes) -> None: ...

    def copy_fd(self, fd: int, size: int) -> int: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


def read_exactly(fd: int, size: int) -> bytes:
    """Up to ``size`` bytes from ``fd`` (fewer only at end of file)."""
    data = os.read(fd, size)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        chunk = os.read(fd, size - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


class _Copying:
    """``copy_fd`` by reading chunks, for sinks that transform what they get."""

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def copy_fd(self, fd: int, size: int) -> int:
        """Copy up to ``size`` bytes from ``fd``'s position; return how many there were."""
        return copy_by_reading(self.write, fd, size)


def copy_by_reading(write: Callable[[bytes], None], fd: int, size: int) -> int:
    """Feed up to ``size`` bytes of ``fd`` to ``write`` in chunks; return the count."""
    copied = 0
    while copied < size:
        chunk = read_exactly(fd, min(_CHUNK, size - copied))
        if not chunk:
            break
        write(chunk)
        copied += len(chunk)
    return copied


class RawSink:
    """No compression. Small pieces are batched into large writes; large files go
    kernel to kernel with ``copy_file_range`` where the OS allows."""

    _BATCH = 1 << 20

    def __init__(self, out: BinaryIO) -> None:
        out.flush()
        self._fd = out.fileno()
        self._buffer = bytearray()

    def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= self._BATCH:
            self._flush()

    def _flush(self) -> None:
        view = memoryview(self._buffer)
        while view:
            view = view[os.write(self._fd, view):]
        view.release()
        self._buffer.clear()

    def copy_fd(self, fd: int, size: int) -> int:
        """Copy ``size`` bytes from ``fd``; return how many there were."""
        if size < self._BATCH:
            data = read_exactly(fd, size)
            self.write(data)
            return len(data)
        if not hasattr(os, "copy_file_range"):  # Windows
            return copy_by_reading(self.write, fd, size)
        self._flush()
        copied = 0
        try:
            while copied < size:
                n = os.copy_file_range(fd, self._fd, size - copied)
                if n == 0:
                    return copied
                copied += n
            return copied
        except OSError:
            pass  # e.g. EXDEV or no support: the portable way below
        return copied + copy_by_reading(self.write, fd, size - copied)

    def close(self) -> None:
        self._flush()

    def abort(self) -> None:
        """Nothing to stop."""


Job = Callable[[bytes, bytes, bool], bytes]


class BlockSink(_Copying):
    """Compress fixed-size blocks on a thread pool and write them in order."""

    def __init__(self, out: BinaryIO, job: Job, block_size: int, threads: int,
                 header: bytes = b"", trailer: Optional[Callable[[int, int], bytes]] = None) -> None:
        self._out = out
        self._job = job
        self._block_size = block_size
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="condapack-compress")
        self._pending: Deque[Future[bytes]] = collections.deque()
        self._limit = 2 * max(1, threads)
        self._buffer = bytearray()
        self._previous = b""
        self._crc = 0
        self._size = 0
        self._trailer = trailer
        out.write(header)

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= self._block_size:
            block = bytes(self._buffer[: self._block_size])
            del self._buffer[: self._block_size]
            self._submit(block, last=False)

    def _submit(self, block: bytes, last: bool) -> None:
        if self._trailer is not None:
            self._crc = isal_zlib.crc32(block, self._crc)
        self._size += len(block)
        self._pending.append(self._pool.submit(self._job, block, self._previous, last))
        self._previous = block[-_WINDOW:]
        while len(self._pending) > self._limit:
            self._out.write(self._pending.popleft().result())

    def close(self) -> None:
        self._submit(bytes(self._buffer), last=True)
        self._buffer.clear()
        while self._pending:
            self._out.write(self._pending.popleft().result())
        self._pool.shutdown()
        if self._trailer is not None:
            self._out.write(self._trailer(self._crc, self._size))
        self._out.flush()

    def abort(self) -> None:
        """Stop the workers without waiting for queued blocks."""
        self._pool.shutdown(wait=True, cancel_futures=True)


class ZstdSink(_Copying):
    """zstd in its multi-threaded mode (deterministic for any worker count >= 1).

    Jobs of 8 MiB that each see the whole previous window (overlap_log 9) use about a
    third of the default jobs' memory and compress slightly better.
    """

    def __init__(self, out: BinaryIO, level: int, threads: int) -> None:
        self._out = out
        params = zstandard.ZstdCompressionParameters.from_level(
            level, threads=max(1, threads), job_size=8 << 20, overlap_log=9)
        self._cobj = zstandard.ZstdCompressor(compression_params=params).compressobj()

    def write(self, data: bytes) -> None:
        self._out.write(self._cobj.compress(data))

    def close(self) -> None:
        self._out.write(self._cobj.flush())
        self._out.flush()

    def abort(self) -> None:
        """zstd's workers stop with the compressor object."""


def _deflate(module: Any, level: int, block: bytes, previous: bytes, last: bool) -> bytes:
    if previous:
        cobj = module.compressobj(level, module.DEFLATED, -15, 8, module.Z_DEFAULT_STRATEGY, previous)
    else:
        cobj = module.compressobj(level, module.DEFLATED, -15, 8)
    out: bytes = cobj.compress(block) + cobj.flush(module.Z_FINISH if last else module.Z_SYNC_FLUSH)
    return out


#: The same mapping for zip members, which are mostly small files deflated one by one: at
#: the default level speed matters more than the last percent (ISA-L 2 alone); from level 6
#: up they get zlib-ng as gzip blocks do.
ZIP_LEVELS: Levels = (
    (0, None, 0.0), (1, None, 0.0), (1, None, 0.0), (1, None, 0.0), (2, None, 0.0), (3, None, 0.0),
    (3, 6, 0.5), (3, 7, ALWAYS), (3, 8, ALWAYS), (3, 9, ALWAYS))


@functools.lru_cache(maxsize=None)  # deflate() asks once per zip member
def _block_job(levels: Levels, level: int) -> Job:
    """Raw deflate of one block primed with ``previous``: ISA-L, or zlib-ng for blocks
    that look like text (see the module docstring); level 0 stores."""
    isal_level, zng_level, text_below = levels[level]
    if level == 0:
        return lambda block, previous, last: _deflate(zlib, 0, block, previous, last)

    def job(block: bytes, previous: bytes, last: bool) -> bytes:
        if zng_level is not None and (text_below >= ALWAYS or estimated_ratio(block) < text_below):
            return _deflate(zlib_ng, zng_level, block, previous, last)
        return _deflate(isal_zlib, isal_level, block, previous, last)

    return job


def deflate_job(level: int) -> Job:
    """One block of a large zip member."""
    return _block_job(ZIP_LEVELS, level)


def deflate(data: bytes, level: int) -> bytes:
    """One whole raw-deflate stream of ``data`` (a small zip member).

    Through compressor objects, like the gzip blocks: ISA-L's one-shot ``compress``
    was seen giving a different (valid) encoding of the same file from run to run.
    """
    return _block_job(ZIP_LEVELS, level)(data, b"", True)


def gzip_block_job(level: int) -> Job:
    """One block of a gzip stream (pigz's scheme)."""
    return _block_job(GZIP_LEVELS, level)


_SLICES = 8
_SLICE = 8 << 10


def estimated_ratio(block: bytes) -> float:
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


def _gzip_trailer(crc: int, size: int) -> bytes:
    return struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)


# A gzip header with no name and mtime 0, so the bytes never depend on when or where.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def _bz2_job(level: int) -> Job:
    def job(block: bytes, previous: bytes, last: bool) -> bytes:
        return bz2.compress(block, max(1, level)) if block or not previous else b""

    return job


def _xz_job(level: int) -> Job:
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


def open_sink(out: BinaryIO, compression: str, level: int, threads: int = 1) -> Sink:
    """A sink for ``compression`` ("", "gz", "bz2", "xz" or "zst") writing to ``out``."""
    if compression == "gz":
        return BlockSink(out, gzip_block_job(level), 1 << 20, threads, _GZIP_HEADER, _gzip_trailer)
    if compression == "bz2":
        return BlockSink(out, _bz2_job(level), max(1, level) * 100_000, threads)
    if compression == "xz":
        return BlockSink(out, _xz_job(level), xz_block_size(level), threads)
    if compression == "zst":
        return ZstdSink(out, level, threads)
    return RawSink(out)
