"""A location-independent fingerprint of an environment's content, cheap to recompute.

Conda-managed files are identified by their packages (name, version, build, channel,
package hash) as recorded in ``conda-meta``, without reading them; a managed file whose
size no longer matches its record is hashed like an unmanaged one. Unmanaged files are
hashed through a :class:`~condapack.project.memo.Memo`, with the environment's own
prefix replaced by a marker, so the same environment at another path (another checkout,
another machine) has the same fingerprint. When the prefix's tree signature is the one
the memo stored with a fingerprint, that fingerprint is reused without reading a
record or a file: a no-op build is one ``lstat`` per entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import attrs

from .._gc import gc_paused
from ..layout import is_record
from ..records import PackageId
from ..tree import check_is_environment
from .memo import Memo
from .signature import tree_signature

# Reading an environment (its records, its files) is imported when the signature does
# not match: a no-op build's start-up does not pay for it.
if TYPE_CHECKING:
    from ..prefix import Entry, Reading

__all__ = ["EnvFingerprint", "fingerprint_env", "read_and_fingerprint"]

_MARKER = b"\0condapack-prefix\0"


@attrs.frozen
class EnvFingerprint:
    """Packages and unmanaged-content digest of one environment."""

    packages: tuple[PackageId, ...]
    files_count: int
    files_digest: str

    @property
    def digest(self) -> str:
        """One digest over everything."""
        doc = {"packages": [p.to_doc() for p in self.packages], "files": self.files_digest}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()

    def to_doc(self) -> dict[str, Any]:
        """As JSON, for the memo."""
        return {"packages": [p.to_doc() for p in self.packages], "files_count": self.files_count,
                "files_digest": self.files_digest}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Optional[EnvFingerprint]:
        """The fingerprint :meth:`to_doc` wrote, or None if ``doc`` is not one."""
        packages, count, digest = doc.get("packages"), doc.get("files_count"), doc.get("files_digest")
        parsed = [PackageId.from_doc(p) for p in packages] if isinstance(packages, list) else [None]
        ids = tuple(p for p in parsed if p is not None)
        if len(ids) != len(parsed) or not isinstance(count, int) or not isinstance(digest, str):
            return None
        return cls(ids, count, digest)


def normalized_digest(path: str, prefix: bytes) -> str:
    """sha256 of a file with every occurrence of ``prefix`` replaced by a marker."""
    digest = hashlib.sha256()
    keep = len(prefix) - 1
    carry = b""
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(1 << 20)
            data = carry + chunk
            if not chunk:
                digest.update(data.replace(prefix, _MARKER))
                return digest.hexdigest()
            cut = _safe_cut(data, prefix, len(data) - keep)
            digest.update(data[:cut].replace(prefix, _MARKER))
            carry = data[cut:]


def _safe_cut(data: bytes, needle: bytes, cut: int) -> int:
    """Move ``cut`` past any occurrence of ``needle`` that it would split."""
    start = max(0, cut - len(needle) + 1)
    index = data.find(needle, start)
    while index != -1 and index < cut:
        if index + len(needle) > cut:
            return index + len(needle)
        index = data.find(needle, index + 1)
    return max(cut, 0)


def _entry_digest(prefix: Path, rel: str, entry: Entry, memo: Memo) -> str:
    if entry.kind == "dir":
        return "dir"
    if entry.kind == "symlink":
        target = (entry.link_target or "").replace(str(prefix), _MARKER.decode())
        return f"link:{target}"
    path = os.path.join(prefix, rel)
    digest = memo.digest(rel, path, os.lstat(path), lambda p: normalized_digest(p, str(prefix).encode()))
    return f"{'x' if entry.mode & 0o111 else '-'}:{digest}"


def fingerprint_env(prefix: Path, memo: Optional[Memo] = None) -> EnvFingerprint:
    """Fingerprint the environment at ``prefix`` (re-hashing only changed files)."""
    return read_and_fingerprint(prefix, memo)[0]


def read_and_fingerprint(prefix: Path, memo: Optional[Memo] = None) -> tuple[EnvFingerprint, Optional[Reading]]:
    """The fingerprint, and the :class:`Reading` it was made from when the environment had to be read.

    None: the fingerprint the memo stored for this tree signature still holds, and nothing
    was read. A build packs from the reading instead of reading the environment again.
    """
    check_is_environment(prefix)
    memo = memo or Memo(None)
    # Taken before the files are read: a change made meanwhile makes the next one differ.
    signature = tree_signature(prefix, memo.listings())
    known = memo.remembered(signature, EnvFingerprint.from_doc)
    if known is not None:
        return known, None
    from ..prefix import read_prefix

    reading = read_prefix(prefix)
    fingerprint = _scanned(reading, memo)
    # Path data read from a package cache can change without the prefix changing.
    if all(p.source == "env" for p in reading.packages):
        memo.remember(signature, fingerprint.to_doc())
    return fingerprint, reading


@gc_paused
def _scanned(reading: Reading, memo: Memo) -> EnvFingerprint:
    """The fingerprint from the records and every file (through the memo)."""
    from ..prefix import keep_unmanaged, looks_modified

    prefix, packages, disk, owners, layout = reading.prefix, reading.packages, reading.disk, reading.owners, \
        reading.layout
    digest = _ListDigest()
    for rel in sorted(disk):  # the names only: a list of (name, entry) pairs would cost 56 bytes a file
        entry, owner = disk[rel], owners.get(rel)
        if owner is not None and not looks_modified(owner[1], entry, f"{prefix}/{rel}"):
            continue
        # records are covered by the package list; their bytes name the packing machine's package cache
        if owner is None and (is_record(rel) or not keep_unmanaged(rel, owners, layout)):
            continue
        digest.add(rel, _entry_digest(prefix, rel, entry, memo))
    for rel in sorted(rel for rel in owners if rel not in disk):
        digest.add(rel, "missing")
    return EnvFingerprint(tuple(p.identity for p in packages), digest.count, digest.hexdigest())


class _ListDigest:
    """sha256 of ``json.dumps({"files": [[path, digest], ...]})``, fed a pair at a time.

    The same bytes as dumping the whole list, without holding it: a big environment's
    list of pairs would be the largest object of a scan.
    """

    _BATCH = 4096

    def __init__(self) -> None:
        self._sha = hashlib.sha256(b'{"files": [')
        self._pending: list[tuple[str, str]] = []
        self.count = 0

    def add(self, path: str, digest: str) -> None:
        """Append one pair."""
        self._pending.append((path, digest))
        self.count += 1
        if len(self._pending) == self._BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            separator = ", " if self.count > len(self._pending) else ""
            self._sha.update((separator + json.dumps(self._pending)[1:-1]).encode())
            self._pending = []

    def hexdigest(self) -> str:
        """The digest of the list so far."""
        self._flush()
        sha = self._sha.copy()
        sha.update(b"]}")
        return sha.hexdigest()
