"""Byte sinks that compress an archive stream, in parallel and deterministically.

Parallel compression splits the stream into blocks at fixed offsets, so the output
depends only on the input and the level, never on the thread count:

- gzip: each 1 MiB block is a complete gzip member; concatenated members are one
  standard gzip file (RFC 1952; gzip, pigz, GNU tar, bsdtar and Python read them all).
- bzip2 and xz: each block is a complete stream; concatenated streams are standard
  (bzip2, xz, GNU tar and Python all read them).
- zstd: zstd's own multi-threaded mode, whose output is independent of the worker count.

How each block is compressed is :mod:`.codec`'s.
"""

from __future__ import annotations

import collections
import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO, Callable, Deque, Optional, Protocol

import zstandard

from ..members import Content
from .codec import WINDOW, Job, bz2_job, gzip_block_job, xz_block_size, xz_job

__all__ = ["Sink", "RawSink", "BlockSink", "ZstdSink", "open_sink", "read_exactly", "Observer"]

_CHUNK = 1 << 20

#: Gets a stream's uncompressed bytes, in order (a hash).
Observer = Callable[[Content], object]


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
        self._previous = block[-WINDOW:]
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

    Jobs of 4 MiB that each see half the previous window (overlap_log 8) hold a fraction
    of the default jobs' memory, at their speed and almost their size (the docs'
    performance page has the measurements).
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


def open_sink(out: BinaryIO, compression: str, level: int, threads: int = 1,
              observe: Optional[Observer] = None) -> Sink:
    """A sink for ``compression`` ("", "gz", "bz2", "xz" or "zst") writing to ``out``.

    ``observe`` (not for "") gets the uncompressed stream in order, in pieces.
    """
    if compression == "gz":
        return BlockSink(out, gzip_block_job(level), 1 << 20, threads, observe)
    if compression == "bz2":
        return BlockSink(out, bz2_job(level), max(1, level) * 100_000, threads, observe)
    if compression == "xz":
        return BlockSink(out, xz_job(level), xz_block_size(level), threads, observe)
    if compression == "zst":
        return ZstdSink(out, level, threads, observe)
    return RawSink(out)
