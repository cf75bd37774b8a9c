"""Byte sinks that compress an archive stream, in parallel and deterministically.

Parallel compression splits the stream into blocks at fixed offsets, so the output
depends only on the input and the level, never on the thread count:

- gzip: each 1 MiB block is a complete gzip member; concatenated members are one
  standard gzip file (RFC 1952; gzip, pigz, GNU tar, bsdtar and Python read them all).
- bzip2 and xz: each block is a complete stream; concatenated streams are standard
  (bzip2, xz, GNU tar and Python all read them).
- zstd: zstd's own multi-threaded mode, whose output is independent of the worker count.

How each block is compressed is :mod:`.codec`'s. Blocks go through a :class:`Blocks`
queue: compressed on its pool, written in order. Consecutive streams (an image's
layers) can share one queue, so the next stream is cut into blocks while the last ones
of the previous stream are still being compressed.
"""

from __future__ import annotations

import collections
import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO, Callable, Deque, Optional, Protocol

import attrs
import zstandard

from ..members import Content
from .codec import WINDOW, Job, bz2_job, gzip_block_job, xz_block_size, xz_job

__all__ = ["Sink", "RawSink", "Blocks", "BlockSink", "ZstdSink", "open_sink", "open_stream", "read_exactly",
           "Observer", "Write"]

_CHUNK = 1 << 20

#: Where a stream's compressed bytes go, in order.
Write = Callable[[bytes], object]

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


@attrs.frozen
class _Step:
    """One entry of the queue: a block being compressed (and observed), or an action."""

    done: Callable[[bytes], object]
    compressed: Optional[Future[bytes]] = None
    seen: Optional[Future[object]] = None


class Blocks:
    """Blocks compressed on one thread pool and written in the order they came.

    Observers (hashes of the uncompressed streams) get every block in order on a thread
    of their own: hashlib runs without the GIL there, beside the compressors, on the
    blocks they already hold. A bounded number of blocks is in flight, whatever the
    number of streams.
    """

    def __init__(self, threads: int) -> None:
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="condapack-compress")
        self._observer = ThreadPoolExecutor(1, thread_name_prefix="condapack-observe")
        self._pending: Deque[_Step] = collections.deque()
        self._blocks = 0
        self._limit = 2 * max(1, threads)

    def submit(self, job: Job, block: bytes, previous: bytes, last: bool, write: Write,
               observe: Optional[Observer]) -> None:
        """Compress ``block`` and give it to ``write`` after every block submitted before it."""
        seen = self._observer.submit(observe, block) if observe is not None else None
        self._pending.append(_Step(write, self._pool.submit(job, block, previous, last), seen))
        self._blocks += 1
        while self._blocks > self._limit:
            self._next()

    def observe(self, observe: Observer, data: Content) -> Future[object]:
        """``observe(data)`` on the observer thread, after every observer call submitted before it."""
        return self._observer.submit(observe, data)

    def then(self, action: Callable[[], object]) -> None:
        """Run ``action`` once every block submitted so far is written (now, if they are)."""
        if self._pending:
            self._pending.append(_Step(lambda _: action()))
        else:
            action()

    def _next(self) -> None:
        step = self._pending.popleft()
        if step.compressed is None:
            step.done(b"")
            return
        self._blocks -= 1
        step.done(step.compressed.result())
        if step.seen is not None:
            step.seen.result()

    def close(self) -> None:
        """Write every block and run every action, then stop the threads."""
        while self._pending:
            self._next()
        self._pool.shutdown()
        self._observer.shutdown()

    def abort(self) -> None:
        """Stop the threads without waiting for queued blocks."""
        self._pending.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._observer.shutdown(wait=True, cancel_futures=True)


class BlockSink(_Copying):
    """One stream cut into fixed-size blocks for a :class:`Blocks` queue.

    ``close`` ends the stream without waiting for its blocks: the queue writes them.
    """

    def __init__(self, blocks: Blocks, write: Write, job: Job, block_size: int,
                 observe: Optional[Observer] = None) -> None:
        self._blocks = blocks
        self._write = write
        self._job = job
        self._block_size = block_size
        self._observe = observe
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
        self._blocks.submit(self._job, block, self._previous, last, self._write, self._observe)
        self._previous = block[-WINDOW:]

    def close(self) -> None:
        self._submit(bytes(self._buffer), last=True)
        self._buffer.clear()

    def abort(self) -> None:
        """Stop the queue's workers without waiting for queued blocks."""
        self._blocks.abort()


class _WholeSink(BlockSink):
    """A stream with a queue of its own: ``close`` writes it out completely."""

    def __init__(self, out: BinaryIO, job: Job, block_size: int, threads: int,
                 observe: Optional[Observer]) -> None:
        super().__init__(Blocks(threads), out.write, job, block_size, observe)
        self._out = out

    def close(self) -> None:
        super().close()
        self._blocks.close()
        self._out.flush()


class ZstdSink(_Copying):
    """zstd in its multi-threaded mode (deterministic for any worker count >= 1).

    Jobs of 4 MiB that each see half the previous window (overlap_log 8) hold a fraction
    of the default jobs' memory, at their speed and almost their size (the docs'
    performance page has the measurements).
    """

    def __init__(self, write: Write, level: int, threads: int, observe: Optional[Observer] = None) -> None:
        self._write = write
        self._observe = observe
        params = zstandard.ZstdCompressionParameters.from_level(
            level, threads=max(1, threads), job_size=4 << 20, overlap_log=8)
        self._cobj = zstandard.ZstdCompressor(compression_params=params).compressobj()

    def write(self, data: Content) -> None:
        if self._observe is not None:
            self._observe(data)
        self._write(self._cobj.compress(data))

    def close(self) -> None:
        self._write(self._cobj.flush())

    def abort(self) -> None:
        """zstd's workers stop with the compressor object."""


class _ZstdWhole(ZstdSink):
    """A zstd stream to a file, flushed by ``close``."""

    def __init__(self, out: BinaryIO, level: int, threads: int, observe: Optional[Observer]) -> None:
        super().__init__(out.write, level, threads, observe)
        self._out = out

    def close(self) -> None:
        super().close()
        self._out.flush()


def _block_codec(compression: str, level: int) -> tuple[Job, int]:
    """The block job and block size of a block-parallel ``compression``."""
    if compression == "gz":
        return gzip_block_job(level), 1 << 20
    if compression == "bz2":
        return bz2_job(level), max(1, level) * 100_000
    return xz_job(level), xz_block_size(level)


def open_sink(out: BinaryIO, compression: str, level: int, threads: int = 1,
              observe: Optional[Observer] = None) -> Sink:
    """A sink for ``compression`` ("", "gz", "bz2", "xz" or "zst") writing to ``out``.

    ``observe`` (not for "") gets the uncompressed stream in order, in pieces.
    """
    if compression in ("gz", "bz2", "xz"):
        return _WholeSink(out, *_block_codec(compression, level), threads, observe)
    if compression == "zst":
        return _ZstdWhole(out, level, threads, observe)
    return RawSink(out)


def open_stream(blocks: Blocks, write: Write, compression: str, level: int, threads: int,
                observe: Optional[Observer] = None) -> Sink:
    """One of consecutive ``compression`` ("gz", "bz2", "xz" or "zst") streams sharing ``blocks``.

    ``close`` ends the stream: its bytes reach ``write`` once ``blocks`` writes them (zstd's
    at once, on its own threads).
    """
    if compression == "zst":
        return ZstdSink(write, level, threads, observe)
    return BlockSink(blocks, write, *_block_codec(compression, level), observe)
