"""The tree signature: one digest of what ``lstat`` says about every entry below a prefix.

Any write, chmod, rename, addition or removal changes a ctime or a directory listing, so
an equal signature means a walk would find the same files with the same content, unless
one was written in the same clock tick as the signature was taken: callers trust it only
when ``newest_ctime_ns`` is well before that moment. It keeps no per-file state: one
``lstat`` per entry (relative to its directory's descriptor, so the kernel resolves one
name, not the whole path), hashed a directory at a time.

Listing a directory costs several times one ``lstat`` (open, duplicate, read, close), and
environments have a directory per seven files. A directory's listing changes only with
its mtime and ctime, so the listings of the previous signature
(:class:`~condapack.project.listings.Listings`) are reused for every directory whose
``lstat`` is the one stored with its listing: the digest is the same as a fresh walk's,
and a no-op costs one ``lstat`` per entry.

Those ``lstat`` calls are most of a no-op build. On Linux, over a large tree, a forked
child re-stats the second part of the stored directories into shared memory while this
process does the first part (:class:`_Helper`); the digest is taken here, in walk order,
from both parts, so it is the same whoever made the calls, and the child's part is used
only while the walk meets the directories it re-stated.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import mmap
import operator
import os
import signal
import stat
import struct
import sys
from pathlib import Path
from typing import Optional, Sequence

import attrs

from ..tree import entries, ignored_top, unreadable
from .listings import STAT, Listings, Replay

__all__ = ["TreeSignature", "tree_signature"]

#: What the digest takes of each entry's ``lstat``: mode, size, mtime, ctime, inode.
_FIELDS = operator.attrgetter("st_mode", "st_size", "st_mtime_ns", "st_ctime_ns", "st_ino")
_MODE, _CTIME = operator.attrgetter("st_mode"), operator.attrgetter("st_ctime_ns")
#: Windows inode numbers may use more than 64 bits; the low 63 tell files apart.
_INO_MASK = (1 << 63) - 1
#: ``fstatat`` relative to a directory descriptor (POSIX); Windows lists with cached stats.
_STAT_AT = os.stat in os.supports_dir_fd and os.listdir in os.supports_fd
#: A re-stated directory in the helper's memory: newest ctime, number of entries and of
#: subdirectories, then its entries' packed stats and the positions of its subdirectories.
_HEAD = struct.Struct("=qii")
_POSITION = struct.Struct("=i")
#: Below this many stored entries a no-op re-stats alone: a fork costs more than it saves.
_SHARE_FROM = 20_000
#: The share of the stored entries the helper re-stats: half, so both processes finish together.
_HELPER_SHARE = 0.5
_CAN_FORK = sys.platform.startswith("linux") and hasattr(os, "fork")


@attrs.frozen
class TreeSignature:
    """A digest of what ``stat`` says about every entry below a prefix, and the newest ctime in it.

    ``listings`` are the directory listings it was taken from, for the next signature;
    ``listed`` counts those that were not replayed from an earlier walk's.
    """

    digest: str
    newest_ctime_ns: int
    listings: Listings = attrs.field(factory=Listings, eq=False, repr=False)
    listed: int = attrs.field(default=0, eq=False)


def tree_signature(prefix: Path, previous: Optional[Listings] = None) -> TreeSignature:
    """Digest the name, mode, size, mtime, ctime and inode of every entry ``walk_prefix`` sees.

    Directories whose ``lstat`` is the one stored in ``previous`` are not listed again.
    Entries are taken in the order the directory lists them: a filesystem that lists an
    unchanged directory in another order only costs a full scan.
    """
    root = os.fsencode(prefix)
    digest = hashlib.sha256(root)
    newest = 0
    stack: list[tuple[bytes, Optional[bytes]]] = [(root, None)]
    listed = 0
    replay = Replay((previous or Listings()) if _STAT_AT else None)
    helper = _Helper.start(previous) if _STAT_AT and previous is not None else None
    try:
        while stack:
            path, key = stack.pop()
            listing = None if key is None else replay.listing(path, key)
            if listing is None:
                if helper is not None and replay.missed:
                    helper.stop()
                    helper = None
                listing, names, stats = _listed(path, key is None)
                if key is not None:
                    replay.add(path, key, listing)
                    listed += 1
                packed, dir_newest, subdirs = _summary(stats)
            else:
                shared = helper.take(replay.replayed - 1) if helper is not None else None
                packed, dir_newest, subdirs = shared or _restated(path, listing)
                names = _names(listing) if subdirs else []
            digest.update(b"%d:%s\0%d:%s" % (len(path), path, len(listing), listing) + packed)
            newest = max(newest, dir_newest)
            # pushed in listing order, so the next walk meets them in the order they were stored
            stack += [(b"%s/%s" % (path, names[i]), packed[STAT.size * i:STAT.size * (i + 1)])
                      for i in subdirs]
    finally:
        if helper is not None:
            helper.stop()
    return TreeSignature(digest.hexdigest(), newest, replay.listings(), listed)


#: One directory's entries as the digest and the walk need them: their packed stats,
#: the newest ctime among them, and the positions of the subdirectories.
_Summary = tuple[bytes, int, Sequence[int]]


def _summary(stats: list[os.stat_result]) -> _Summary:
    subdirs = list(itertools.compress(range(len(stats)), map(stat.S_ISDIR, map(_MODE, stats))))
    return _packed(stats), max(map(_CTIME, stats), default=0), subdirs


class _Helper:
    """A forked child re-stating the stored directories from ``first`` on into shared memory.

    Each directory it re-stated is :data:`_HEAD`, its entries' packed stats and its subdirectories'
    positions, in stored order. The child exits 0 once all are written; any error (a
    directory that is gone, say) makes it exit 1, and this process re-stats them itself.
    """

    def __init__(self, pid: int, memory: mmap.mmap, first: int) -> None:
        self._pid: Optional[int] = pid
        self._memory = memory
        self._next = first  # the next directory this process takes from the child
        self._offset = 0
        self._done = False

    @classmethod
    def start(cls, previous: Listings) -> Optional[_Helper]:
        """A helper for the last part of ``previous``, or None when the tree is small or forking is not safe."""
        if not _CAN_FORK or not _single_threaded():
            return None
        entries = _entry_counts(previous)
        total = sum(entries)
        if total < _SHARE_FROM:
            return None
        first, done = len(entries), 0
        while first > 0 and done < total * _HELPER_SHARE:
            first -= 1
            done += entries[first]
        memory = mmap.mmap(-1, _HEAD.size * (len(entries) - first) + (STAT.size + _POSITION.size) * done)
        try:
            pid = os.fork()
        except (OSError, RuntimeError):  # no process to spare, or an interpreter that may not fork
            memory.close()
            return None
        if pid == 0:  # the child: never returns, runs no handler of this process's
            status = 1
            try:
                for name in ("SIGINT", "SIGTERM", "SIGHUP"):
                    signal.signal(getattr(signal, name), signal.SIG_DFL)
                _restat_into(previous, first, memory)
                status = 0
            finally:
                os._exit(status)
        return cls(pid, memory, first)

    def take(self, index: int) -> Optional[_Summary]:
        """Directory ``index``'s summary as the child made it, or None if this process must re-stat it."""
        if index < self._next or self._pid is None and not self._done:
            return None
        if index != self._next or not self._joined():
            self.stop()
            return None
        newest, count, subdirs = _HEAD.unpack_from(self._memory, self._offset)
        start = self._offset + _HEAD.size
        end = start + STAT.size * count
        self._offset = end + _POSITION.size * subdirs
        self._next += 1
        packed = self._memory[start:end]
        return packed, newest, [p for (p,) in _POSITION.iter_unpack(self._memory[end:self._offset])]

    def _joined(self) -> bool:
        """Wait for the child once; whether it re-stated every directory of its part."""
        if self._pid is not None:
            _, status = os.waitpid(self._pid, 0)
            self._pid = None
            self._done = os.waitstatus_to_exitcode(status) == 0
        return self._done

    def stop(self) -> None:
        """End the child (the walk left the stored directories, or finished)."""
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            self._pid = None
        self._done = False
        self._memory.close()


def _single_threaded() -> bool:
    """Whether forking is safe: no other Python thread holds a lock the child could need."""
    threading = sys.modules.get("threading")
    return threading is None or threading.active_count() == 1


def _entry_counts(listings: Listings) -> list[int]:
    """How many names each stored directory lists."""
    sizes, blob = listings.sizes, listings.blob
    starts = list(itertools.accumulate(sizes))[0::2]  # each listing starts where its path ends
    return [bytes(blob[start:start + sizes[2 * i + 1]]).count(b"\0") + 1 if sizes[2 * i + 1] else 0
            for i, start in enumerate(starts)]


def _restat_into(previous: Listings, first: int, memory: mmap.mmap) -> None:
    """(The child.) Re-stat the directories of ``previous`` from ``first`` on, writing their summaries to ``memory``."""
    sizes, blob = previous.sizes, previous.blob
    offset = sum(sizes[:2 * first])
    for index in range(first, len(previous)):
        path_end = offset + sizes[2 * index]
        listing_end = path_end + sizes[2 * index + 1]
        packed, newest, subdirs = _restated(bytes(blob[offset:path_end]), bytes(blob[path_end:listing_end]))
        offset = listing_end
        memory.write(_HEAD.pack(newest, len(packed) // STAT.size, len(subdirs)))
        memory.write(packed)
        memory.write(b"".join(map(_POSITION.pack, subdirs)))


def _names(listing: bytes) -> list[bytes]:
    return listing.split(b"\0") if listing else []


def _packed(stats: list[os.stat_result]) -> bytes:
    """The digested part of each ``lstat``, packed (without an object per number: this runs once per entry)."""
    if _STAT_AT:
        return b"".join(itertools.starmap(STAT.pack, map(_FIELDS, stats)))
    return b"".join(STAT.pack(st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino & _INO_MASK)
                    for st in stats)


def _listed(path: bytes, top: bool) -> tuple[bytes, list[bytes], list[os.stat_result]]:
    """Directory ``path``'s listing (its names joined by ``NUL``), its names, and the ``lstat`` of each."""
    if not _STAT_AT:
        return _scanned_dir(os.fsdecode(path), top)
    fd = _open_dir(path, top)
    try:
        listing = "\0".join(n for n in os.listdir(fd) if not (top and ignored_top(n)))
        encoded = listing.encode("utf-8", "surrogateescape")
        names = _names(encoded)
        return encoded, names, _stats(path, fd, names)
    finally:
        os.close(fd)


def _restated(path: bytes, listing: bytes) -> _Summary:
    """The summary of a stored ``listing`` of directory ``path``, each name ``lstat``-ed again."""
    fd = _open_dir(path, top=False)
    try:
        return _summary(_stats(path, fd, _names(listing)))
    finally:
        os.close(fd)


def _open_dir(path: bytes, top: bool) -> int:
    try:
        # a subdirectory swapped for a symlink since its lstat is not followed
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | (0 if top else os.O_NOFOLLOW))
    except OSError as exc:
        raise unreadable(f"directory {os.fsdecode(path)}", exc) from None


def _stats(path: bytes, fd: int, names: list[bytes]) -> list[os.stat_result]:
    lstat = os.lstat  # the hot loop: one per entry
    try:
        return [lstat(name, dir_fd=fd) for name in names]
    except OSError as exc:
        where = os.fsdecode(exc.filename) if isinstance(exc.filename, bytes) else exc.filename or ""
        raise unreadable(f"{os.fsdecode(path)}/{where}".rstrip("/"), exc) from None


def _scanned_dir(path: str, top: bool) -> tuple[bytes, list[bytes], list[os.stat_result]]:
    """:func:`_listed` through ``scandir`` (whose entries carry their stat on Windows)."""
    names: list[str] = []
    stats: list[os.stat_result] = []
    for entry in entries(path):
        if top and ignored_top(entry.name):
            continue
        try:
            stats.append(entry.stat(follow_symlinks=False))
        except OSError as exc:
            raise unreadable(entry.path, exc) from None
        names.append(entry.name)
    listing = "\0".join(names).encode("utf-8", "surrogateescape")
    return listing, _names(listing), stats
