"""Byte sinks that compress an archive stream, in parallel and deterministically.

Parallel compression splits the stream into blocks at fixed offsets, so the output
depends only on the input and the level, never on the thread count:

- gzip: each 1 MiB block is a complete gzip member; concatenated members are one
  standard gzip file (RFC 1952; gzip, pigz, GNU tar, bsdtar and Python read them all).
- bzip2 and xz: each block is a complete stream; concatenated streams are standard
  (bzip2, xz, GNU tar and Python all read them).
- zstd: zstd's own multi-threaded mode, whose output is independent of the worker count.

Deflate (gzip blocks, zip members) uses libdeflate (PyPI ``deflate``), which is about
twice as fast as zlib and denser at equal level, and ISA-L (python-isal, 2-3x faster
again but 7% larger on code and text) at the fastest levels and for blocks that barely
shrink anyway (compressed data). Which one is decided before compressing, from a cheap estimate: a 64 KiB sample
of the block (eight 8 KiB slices) deflated by ISA-L at its fastest level. So no block is
deflated twice, and the choice depends only on the block's bytes. libdeflate compresses
a whole buffer at once, so one deflate stream longer than a block (a big zip member) is
written by zlib-ng instead, block by block, each primed with the previous 32 KiB.
``LEVELS`` gives the mapping; at the default level 4 the output is about 1% smaller than
zlib's level 4 (conda-pack's) in less than half of its CPU time, measured on the
benchmark's source- and binary-heavy environments.
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

import attrs
import deflate as libdeflate
import zstandard
from isal import isal_zlib
from zlib_ng import zlib_ng

from ..members import Content

__all__ = ["Sink", "RawSink", "BlockSink", "ZstdSink", "open_sink", "Codec", "LEVELS", "gzip_block_job",
           "deflate_job", "deflate", "estimated_ratio", "NEVER"]

_CHUNK = 1 << 20
_WINDOW = 1 << 15

#: ``Codec.isal_above`` for a level that sends no block to ISA-L.
NEVER = 2.0


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
#: shrink (sampled above 0.8: compressed data), where it loses nothing. Chosen from a study
#: on the benchmark's environments (1 MiB blocks of their files, one core; source / binary
#: mix): zlib 4 (conda-pack's default) .2727 / .3152 of the input at 58-61 MB/s; libdeflate
#: 4 .2690 / .3110 at 118-120 MB/s, libdeflate 3 .2724 / .3139 (too close) at 126;
#: ISA-L 3 .2930 / .3376 at 270-280 (7% larger); sending blocks sampled above 0.55 to ISA-L
#: gained 4-14% speed but made compiled code 8% larger than zlib 4. Big zip members (one
#: stream over primed 1 MiB blocks, which libdeflate cannot write) go to zlib-ng 5: on the
#: benchmark's members over 8 MiB (binary / source) .9922 / .9898 of zlib 4 whole at 1.2x
#: the speed of zlib-ng 6 (.9895 / .9870); zlib-ng 4 was .7% larger than zlib 4.
LEVELS: tuple[Codec, ...] = (
    Codec(0, 0, 0, 0.0), _isal_only(1), _isal_only(2), _isal_only(3), Codec(3, 4, 5, 0.8),
    Codec(3, 6, 6, 0.8), Codec(3, 7, 7, NEVER), Codec(3, 8, 8, NEVER), Codec(3, 9, 9, NEVER),
    Codec(3, 10, 9, NEVER))


class Sink(Protocol):
    """Where a writer sends archive bytes."""

    def write(self, data: Content) -> None: ...

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

    def write(self, data: Content) -> None:
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

    def write(self, data: Content) -> None:
        if len(data) >= self._BATCH:  # e.g. a whole rewritten file: written from where it is
            self._flush()
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            return
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


Observer = Callable[[Content], object]


class BlockSink(_Copying):
    """Compress fixed-size blocks on a thread pool and write them in order.

    An ``observe`` callable (a hash of the uncompressed stream) gets every block, in
    order, on a thread of its own: hashlib runs without the GIL there, beside the
    compressors, on the blocks they already hold.
    """

    def __init__(self, out: BinaryIO, job: Job, block_size: int, threads: int,
                 observe: Optional[Observer] = None) -> None:
        self._out = out
        self._job = job
        self._block_size = block_size
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="condapack-compress")
        self._observe = observe
        self._observer = ThreadPoolExecutor(1, thread_name_prefix="condapack-observe") if observe else None
        self._pending: Deque[tuple[Future[bytes], Optional[Future[object]]]] = collections.deque()
        self._limit = 2 * max(1, threads)
        self._buffer = bytearray()
        self._previous = b""

    def write(self, data: Content) -> None:
        # blocks are cut from ``data`` where it lies: a whole rewritten file is not copied
        # into the buffer first
        size, view = self._block_size, memoryview(data)
        start = min(len(view), size - len(self._buffer))
        self._buffer += view[:start]
        if len(self._buffer) < size:
            return
        self._submit(bytes(self._buffer), last=False)
        self._buffer.clear()
        while len(view) - start >= size:
            self._submit(bytes(view[start:start + size]), last=False)
            start += size
        self._buffer += view[start:]

    def _submit(self, block: bytes, last: bool) -> None:
        seen = self._observer.submit(self._observe, block) if self._observer and self._observe else None
        self._pending.append((self._pool.submit(self._job, block, self._previous, last), seen))
        self._previous = block[-_WINDOW:]
        while len(self._pending) > self._limit:
            self._write_next()

    def _write_next(self) -> None:
        compressed, seen = self._pending.popleft()
        self._out.write(compressed.result())
        if seen is not None:
            seen.result()

    def close(self) -> None:
        self._submit(bytes(self._buffer), last=True)
        self._buffer.clear()
        while self._pending:
            self._write_next()
        self._pool.shutdown()
        if self._observer:
            self._observer.shutdown()
        self._out.flush()

    def abort(self) -> None:
        """Stop the workers without waiting for queued blocks."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._observer:
            self._observer.shutdown(wait=True, cancel_futures=True)


class ZstdSink(_Copying):
    """zstd in its multi-threaded mode (deterministic for any worker count >= 1).

    Jobs of 4 MiB that each see half the previous window (overlap_log 8) use a fraction
    of the default jobs' memory at the speed of 8 MiB jobs with the whole window: source
    benchmark env at level 4, -j2, medians of 3 interleaved runs: 8 MiB / full window
    4.89 s at 127 MiB peak RSS for 256.5 MiB, 4 MiB / full 5.16 s at 103 MiB, 4 MiB /
    half 4.78 s at 103 MiB for 256.9 MiB (+0.16%).
    """

    def __init__(self, out: BinaryIO, level: int, threads: int, observe: Optional[Observer] = None) -> None:
        self._out = out
        self._observe = observe
        params = zstandard.ZstdCompressionParameters.from_level(
            level, threads=max(1, threads), job_size=4 << 20, overlap_log=8)
        self._cobj = zstandard.ZstdCompressor(compression_params=params).compressobj()

    def write(self, data: Content) -> None:
        if self._observe is not None:
            self._observe(data)
        self._out.write(self._cobj.compress(data))

    def close(self) -> None:
        self._out.write(self._cobj.flush())
        self._out.flush()

    def abort(self) -> None:
        """zstd's workers stop with the compressor object."""


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


def open_sink(out: BinaryIO, compression: str, level: int, threads: int = 1,
              observe: Optional[Observer] = None) -> Sink:
    """A sink for ``compression`` ("", "gz", "bz2", "xz" or "zst") writing to ``out``.

    ``observe`` (not for "") gets the uncompressed stream in order, in pieces.
    """
    if compression == "gz":
        return BlockSink(out, gzip_block_job(level), 1 << 20, threads, observe)
    if compression == "bz2":
        return BlockSink(out, _bz2_job(level), max(1, level) * 100_000, threads, observe)
    if compression == "xz":
        return BlockSink(out, _xz_job(level), xz_block_size(level), threads, observe)
    if compression == "zst":
        return ZstdSink(out, level, threads, observe)
    return RawSink(out)
