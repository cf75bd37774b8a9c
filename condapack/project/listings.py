"""The directory listings a tree signature was taken from, kept so the next one lists only what changed.

A directory's listing changes only with its ``lstat``, so the next walk replays the
listing of each directory whose ``lstat`` is the one stored with it (:class:`Replay`) and
lists the others afresh.
"""

from __future__ import annotations

import array
import struct
from typing import Optional, Union

__all__ = ["STAT", "Listings", "Replay"]

#: The digested part of one entry's ``lstat``, packed: mode, size, mtime, ctime, inode.
STAT = struct.Struct("=qqqqQ")
_MAGIC = b"condapack listings 1\n"
_COUNT = struct.Struct("=q").size


class Listings:
    """The names in each directory below a prefix with the directory's ``lstat``, in walk order.

    Three parts, so that storing and loading them creates no object per entry: each
    directory's packed ``lstat`` (:data:`STAT`), the byte lengths of its path and of
    its listing, and one blob of paths and ``NUL``-joined names.
    """

    def __init__(self, keys: Union[bytearray, memoryview, None] = None, sizes: Optional[array.array[int]] = None,
                 blob: Union[bytearray, memoryview, None] = None) -> None:
        self.keys = keys if keys is not None else bytearray()
        self.sizes = sizes if sizes is not None else array.array("q")
        self.blob = blob if blob is not None else bytearray()

    def __len__(self) -> int:
        return len(self.sizes) // 2

    def add(self, path: bytes, key: bytes, listing: bytes) -> None:
        """Add a directory seen by the walk."""
        if not isinstance(self.blob, bytearray):
            self.blob = bytearray(self.blob)
        if not isinstance(self.keys, bytearray):
            self.keys = bytearray(self.keys)
        self.keys += key
        self.sizes.extend((len(path), len(listing)))
        self.blob += path
        self.blob += listing

    def head(self, count: int) -> Listings:
        """The first ``count`` directories."""
        size = sum(self.sizes[:2 * count])
        return Listings(bytearray(self.keys[:STAT.size * count]), self.sizes[:2 * count],
                        bytearray(self.blob[:size]))

    def to_bytes(self) -> bytes:
        """The file form, read back by :meth:`from_bytes`."""
        head = b"%s%d %d\n" % (_MAGIC, len(self), len(self.blob))
        return b"".join((head, self.keys, self.sizes.tobytes(), self.blob))

    @classmethod
    def from_bytes(cls, data: bytes) -> Optional[Listings]:
        """The listings :meth:`to_bytes` wrote, or None if ``data`` is not that."""
        end = data.find(b"\n", len(_MAGIC))
        try:
            count, blob_size = map(int, data[len(_MAGIC):end].split(b" "))
        except ValueError:
            return None
        keys_end = end + 1 + STAT.size * count
        sizes_end = keys_end + 2 * count * _COUNT
        if not data.startswith(_MAGIC) or min(count, blob_size) < 0 or len(data) != sizes_end + blob_size:
            return None
        sizes = array.array("q", data[keys_end:sizes_end])
        if min(sizes, default=0) < 0 or sum(sizes) != blob_size:
            return None
        view = memoryview(data)  # views: no second copy of the packed stats and names
        return cls(view[end + 1:keys_end], sizes, view[sizes_end:])


class Replay:
    """Hands out an earlier walk's listings while this walk meets the same directories, and keeps them.

    Directories come in the order they were stored: the first miss means the tree
    changed, and the rest of the walk lists directories afresh. Without ``previous``
    (Windows, whose listings carry their stats) nothing is replayed or kept.
    """

    def __init__(self, previous: Optional[Listings]) -> None:
        self._previous = previous
        self._index = 0
        self._offset = 0
        self._seen: Optional[Listings] = None  # from the first miss: what was replayed, then what was listed

    @property
    def replayed(self) -> int:
        """How many directories were replayed so far (the last one's index plus one)."""
        return self._index

    @property
    def missed(self) -> bool:
        """Whether the walk left the stored directories."""
        return self._seen is not None

    def listing(self, path: bytes, key: bytes) -> Optional[bytes]:
        """The listing stored for directory ``path`` when it had stat ``key``, if it is still the next one."""
        previous, index, offset = self._previous, self._index, self._offset
        if previous is None or self._seen is not None:
            return None
        if index < len(previous):
            path_size, listing_size = previous.sizes[2 * index], previous.sizes[2 * index + 1]
            listing_at = offset + path_size
            same_key = bytes(previous.keys[STAT.size * index:STAT.size * (index + 1)]) == key
            if same_key and bytes(previous.blob[offset:listing_at]) == path:
                self._index, self._offset = index + 1, listing_at + listing_size
                return bytes(previous.blob[listing_at:listing_at + listing_size])
        self._seen = previous.head(index)
        return None

    def add(self, path: bytes, key: bytes, listing: bytes) -> None:
        """A directory listed afresh (after a miss)."""
        if self._seen is not None:
            self._seen.add(path, key, listing)

    def listings(self) -> Listings:
        """Every directory's listing, as this walk saw them."""
        if self._previous is None:
            return Listings()
        if self._seen is None:
            return self._previous if self._index == len(self._previous) else self._previous.head(self._index)
        return self._seen
