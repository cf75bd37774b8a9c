"""A deterministic, parallel zip writer.

Every file is deflated (libdeflate or ISA-L, the level mapping of gzip), rewritten ones too.
Small files are read and compressed on a thread pool a little ahead of the writer;
large ones are deflated in fixed-size blocks on the same pool, pigz-style, so a single
big library still uses every thread. Output bytes do not depend on the thread count.
ZIP64 records are written only when needed; with ``zip_64=False`` needing them is an
error instead of a corrupt archive.
"""

from __future__ import annotations

import collections
import shutil
import stat
import struct
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, BinaryIO, Callable, Deque, Iterator, Optional

import attrs
from isal import isal_zlib

from ..errors import ArchiveError
from ..members import Content, Member, size_changed
from ..unpack.safepath import is_utf8
from .codec import WINDOW, deflate, deflate_job

if TYPE_CHECKING:
    from .request import WriteRequest

__all__ = ["write_archive", "write_zip"]

_ZIP_EPOCH = 315532800  # DOS timestamps start at 1980-01-01
_ZIP_END = 4354819198  # and end at 2107-12-31 23:59:58
_BIG = 8 << 20  # files above this are deflated block by block
_BLOCK = 1 << 20
_PREFETCH_BYTES = 32 << 20
_SPOOL = 8 << 20
#: Smaller members skip the ISA-L estimate (libdeflate it is): on both benchmark
#: environments the estimate cost a fifth of their deflate time and found almost nothing
#: incompressible among them.
_SAMPLED_FROM = 256 << 10
_U32 = 0xFFFFFFFF
_U16 = 0xFFFF
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_DEFLATED, _STORED = 8, 0

Progress = Callable[[int], None]


@attrs.frozen
class _Body:
    """A member's compressed bytes and what the headers say about them."""

    data: Content
    crc: int
    size: int
    method: int


@attrs.define
class _Entry:
    """What the central directory needs to know about a written member."""

    name: bytes
    flags: int
    method: int
    dostime: int
    dosdate: int
    crc: int
    compressed: int
    size: int
    external: int
    offset: int


def _dos(mtime: int) -> tuple[int, int]:
    t = time.gmtime(min(max(mtime, _ZIP_EPOCH), _ZIP_END))
    dostime = (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)
    return dostime, ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday


def _external(member: Member) -> int:
    kind = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK}[member.kind]
    return ((kind | member.mode) << 16) | (0x10 if member.kind == "dir" else 0)


def _compress(data: Content, level: int) -> _Body:
    crc = isal_zlib.crc32(data)
    if level == 0 or not data:
        return _Body(data, crc, len(data), _STORED)
    return _Body(deflate(data, level, sample=len(data) >= _SAMPLED_FROM), crc, len(data), _DEFLATED)


def _content(member: Member, level: int) -> tuple[Content, int]:
    """A small member's bytes and the level to deflate them at (links and directories: stored)."""
    if member.kind == "symlink":
        return (member.link_target or "").encode("utf-8", "surrogateescape"), 0
    if member.kind == "dir":
        return b"", 0
    return member.read(), level


class _ZipWriter:
    def __init__(self, out: BinaryIO, mtime: int, level: int, threads: int, zip_64: bool) -> None:
        self.out = out
        self.dostime, self.dosdate = _dos(mtime)
        self.level = level
        self.zip_64 = zip_64
        self.pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="condapack-zip")
        self.threads = max(1, threads)
        # The central directory, a record per member as it is written: past 8 MiB it goes
        # to an unnamed temporary file (per-member objects cost about 330 bytes each, 66 MB
        # at 200,000 members).
        self.central = tempfile.SpooledTemporaryFile(max_size=_SPOOL)
        self.count = 0
        self.offset = 0

    def _emit(self, data: Content) -> None:
        self.out.write(data)
        self.offset += len(data)

    def _entry(self, member: Member, body: _Body, compressed: int, offset: int) -> _Entry:
        name = member.name + ("/" if member.kind == "dir" and not member.name.endswith("/") else "")
        encoded = name.encode("utf-8", "surrogateescape")
        # The UTF-8 flag only for names that are UTF-8: readers reject it on other bytes.
        flags = 0x800 if not name.isascii() and is_utf8(encoded) else 0
        return _Entry(encoded, flags, body.method, self.dostime, self.dosdate,
                      body.crc, compressed, body.size, _external(member), offset)

    def _local_header(self, entry: _Entry, zip64: bool) -> bytes:
        extra = struct.pack("<HHQQ", 1, 16, entry.size, entry.compressed) if zip64 else b""
        sizes = (_U32, _U32) if zip64 else (entry.compressed, entry.size)
        return _LOCAL.pack(0x04034B50, 45 if zip64 else 20, entry.flags, entry.method, entry.dostime,
                           entry.dosdate, entry.crc, *sizes, len(entry.name), len(extra)) + entry.name + extra

    def add_small(self, member: Member, body: _Body) -> None:
        entry = self._entry(member, body, len(body.data), self.offset)
        if entry.size >= _U32 or entry.compressed >= _U32:
            raise ArchiveError(f"{member.name}: a rewritten file of 4 GiB or more cannot be zipped; "
                               "use a tar format")
        self._emit(self._local_header(entry, False))
        self._emit(body.data)
        self._record(entry)

    def add_big(self, member: Member) -> None:
        """Stream a large file, deflating blocks in parallel; patch the header after."""
        zip64 = member.size >= _U32 - (_U32 >> 4)
        self._need_zip64(zip64, member.name)
        entry = self._entry(member, _Body(b"", 0, member.size, _DEFLATED if self.level else _STORED), 0, self.offset)
        header_at = self.offset
        self._emit(self._local_header(entry, zip64))
        start = self.offset
        entry.crc = self._stream(member)
        entry.compressed = self.offset - start
        self._need_zip64(not zip64 and entry.compressed >= _U32, member.name)
        self.out.seek(header_at)
        self.out.write(self._local_header(entry, zip64))
        self.out.seek(self.offset)
        self._record(entry)

    def _record(self, entry: _Entry) -> None:
        try:
            self.central.write(self._central(entry))
        except OSError as exc:  # spilled to the temporary directory, which may be another disk
            raise ArchiveError(f"cannot write the zip's central directory to a temporary file in "
                               f"{tempfile.gettempdir()}: {exc.strerror or exc}; free some space there or "
                               "set TMPDIR to a directory with room") from None
        self.count += 1

    def _stream(self, member: Member) -> int:
        assert member.source is not None
        job = deflate_job(self.level)
        crc, previous, copied = 0, b"", 0
        pending: Deque[Future[bytes]] = collections.deque()
        with open(member.source, "rb") as fh:
            while True:
                block = fh.read(_BLOCK)
                copied += len(block)
                last = copied >= member.size or not block
                crc = isal_zlib.crc32(block, crc)
                if self.level == 0:
                    self._emit(block)
                else:
                    pending.append(self.pool.submit(job, block, previous, last))
                previous = block[-WINDOW:]
                while len(pending) > 2 * self.threads or (last and pending):
                    self._emit(pending.popleft().result())
                if last:
                    break
        if copied != member.size:
            raise size_changed(member.source)
        return crc

    def _need_zip64(self, needed: bool, what: str) -> None:
        if needed and not self.zip_64:
            raise ArchiveError(f"the zip archive needs ZIP64 extensions ({what}); drop --no-zip-64")

    def finish(self) -> None:
        cd_start, size = self.offset, self.central.tell()
        self.central.seek(0)
        shutil.copyfileobj(self.central, self.out, 1 << 20)
        self.central.close()
        self.offset += size
        self._end(cd_start, size)
        self.pool.shutdown()

    def _central(self, e: _Entry) -> bytes:
        fields = [e.size if e.size >= _U32 else None, e.compressed if e.compressed >= _U32 else None,
                  e.offset if e.offset >= _U32 else None]
        present = [v for v in fields if v is not None]
        extra = struct.pack("<HH", 1, 8 * len(present)) + b"".join(struct.pack("<Q", v) for v in present) \
            if present else b""
        version = 45 if present else 20
        return _CENTRAL.pack(0x02014B50, (3 << 8) | version, version, e.flags, e.method, e.dostime, e.dosdate,
                             e.crc, min(e.compressed, _U32), min(e.size, _U32), len(e.name), len(extra), 0, 0,
                             0, e.external, min(e.offset, _U32)) + e.name + extra

    def _end(self, cd_start: int, cd_size: int) -> None:
        count = self.count
        zip64 = count >= _U16 or cd_start >= _U32 or cd_size >= _U32
        self._need_zip64(zip64, f"{count} members" if count >= _U16 else "over 4 GiB")
        if zip64:
            eocd64_at = self.offset
            self._emit(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, (3 << 8) | 45, 45, 0, 0, count, count,
                                   cd_size, cd_start))
            self._emit(struct.pack("<IIQI", 0x07064B50, 0, eocd64_at, 1))
        self._emit(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, min(count, _U16), min(count, _U16),
                               min(cd_size, _U32), min(cd_start, _U32), 0))


def _is_big(member: Member) -> bool:
    return member.kind == "file" and member.streamable and member.size > _BIG


def _batches(members: tuple[Member, ...]) -> Iterator[tuple[Member, ...]]:
    """Runs of small members (up to 64 files or 1 MiB) and big members on their own.

    One pool task per small file cost more in scheduling than in compressing.
    """
    batch: list[Member] = []
    size = 0
    for member in members:
        if _is_big(member):
            if batch:
                yield tuple(batch)
                batch, size = [], 0
            yield (member,)
            continue
        batch.append(member)
        size += member.size
        if len(batch) >= 64 or size >= _BLOCK:
            yield tuple(batch)
            batch, size = [], 0
    if batch:
        yield tuple(batch)


def _compress_batch(contents: list[tuple[Content, int]]) -> list[_Body]:
    return [_compress(data, level) for data, level in contents]


def write_zip(out: BinaryIO, members: tuple[Member, ...], mtime: int, progress: Progress, *,
              level: int, zip_64: bool, threads: int = 1) -> None:
    """Write all members as a zip archive to ``out`` (which must be seekable)."""
    writer = _ZipWriter(out, mtime, level, threads, zip_64)
    queue: Deque[tuple[tuple[Member, ...], Optional[Future[list[_Body]]]]] = collections.deque()
    in_flight = 0
    batches = _batches(members)
    try:
        for batch in batches:
            queue.append(_submit(writer, batch, level))
            in_flight += sum(m.size for m in batch) if queue[-1][1] is not None else 0
            while queue and (in_flight >= _PREFETCH_BYTES or len(queue) > 4 * writer.threads
                             or queue[0][1] is None):
                in_flight -= _drain_one(writer, queue, progress)
        while queue:
            _drain_one(writer, queue, progress)
        writer.finish()
    finally:
        writer.pool.shutdown(wait=True, cancel_futures=True)
        writer.central.close()


def _submit(writer: _ZipWriter, batch: tuple[Member, ...],
            level: int) -> tuple[tuple[Member, ...], Optional[Future[list[_Body]]]]:
    if len(batch) == 1 and _is_big(batch[0]):
        return batch, None
    # Read here, not on the pool: the writer's thread mostly waits, and -j counts the
    # threads that compress (at -j 1 reading took about a tenth of the only one's time).
    return batch, writer.pool.submit(_compress_batch, [_content(member, level) for member in batch])


def _drain_one(writer: _ZipWriter, queue: Deque[tuple[tuple[Member, ...], Optional[Future[list[_Body]]]]],
               progress: Progress) -> int:
    """Write the oldest queued batch; return the prefetched bytes it released."""
    batch, future = queue.popleft()
    if future is None:
        writer.add_big(batch[0])
        progress(batch[0].size)
        return 0
    for member, body in zip(batch, future.result()):
        writer.add_small(member, body)
        progress(member.size)
    return sum(m.size for m in batch)


def write_archive(request: WriteRequest) -> None:
    """The zip format's writer."""
    with request.file() as out:
        options = request.options
        write_zip(out, request.roster.members, request.roster.mtime, request.advance, level=options.compress_level,
                  zip_64=options.zip_64, threads=options.threads)
