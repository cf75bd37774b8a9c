"""What the last scan of an environment saw, so the next one re-reads only what changed.

Two files per environment under the project's ``.condapack/memo/``:

- ``KEY.json``: path -> ``"size:mtime:ctime:inode:digest"`` of the files that must be
  hashed (one string per file: a big environment's memo stays small in memory). An
  entry is trusted when size, mtime, ctime and inode all match what was recorded and the
  file was not changed "racily": a ctime close to (or after) the moment the previous scan
  started could hide a later write within the same timestamp tick, so such entries are
  always hashed again (git's index uses the same rule). Loaded only when a file must be
  digested.
- ``KEY.tree.json``: the :class:`~condapack.project.signature.TreeSignature` of the whole
  prefix and the fingerprint computed from it. A no-op run takes the signature (one
  ``lstat`` per entry, no per-file state) and, when it matches, reuses the fingerprint
  without reading a record or a file.
- ``KEY.listings``: the directory listings that signature was taken from, so the next
  one lists only the directories whose ``lstat`` changed. Written with the signature,
  under the same rule.

A damaged file costs one warning and a full rescan; it never stops a build.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, TypeVar, Union

from .._version import __version__
from ..bounded import MIB, NotAFile, check_directory, read_bounded
from ..digest import file_digest
from ..errors import CondaPackError
from ..output import write_atomic
from .listings import Listings
from .signature import TreeSignature

__all__ = ["Memo", "StatKey", "RACY_NS", "stat_key", "memo_dir", "remove_old_memos", "write_memo"]

log = logging.getLogger("condapack")

_VERSION = 2
#: The largest memo file read: an entry per file of the environment.
MEMO_LIMIT = 1024 * MIB
#: Changes this close to a scan's start are not trusted to be seen by the next one:
#: the kernel stamps files with a clock that lags by a tick, and some filesystems round
#: times to 2 seconds.
RACY_NS = 3_000_000_000

Doc = dict[str, Any]
T = TypeVar("T")


#: What tells a file unchanged since it was read: size, mtime, ctime and inode.
StatKey = tuple[int, int, int, int]


def stat_key(st: os.stat_result) -> StatKey:
    """The :data:`StatKey` of a file's ``stat``."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _key(st: os.stat_result) -> str:
    """The stat key as this memo's entries begin: ``size:mtime:ctime:inode:``."""
    return "%d:%d:%d:%d:" % stat_key(st)


class Memo:
    """One environment's file digests by stat, and its last tree signature and fingerprint."""

    def __init__(self, path: Optional[Path]) -> None:
        self.path = path
        self.started_ns = time.time_ns()
        self._old: Optional[dict[str, str]] = None
        self._old_started = 0
        self._new: dict[str, str] = {}
        self._saved = False
        self._tree: Optional[Doc] = None
        self._listings: Optional[Listings] = None
        self.hashed = 0

    @property
    def tree_path(self) -> Optional[Path]:
        """The file holding the tree signature and fingerprint."""
        return None if self.path is None else self.path.with_name(self.path.stem + ".tree.json")

    @property
    def listings_path(self) -> Optional[Path]:
        """The file holding the directory listings of the stored signature."""
        return None if self.path is None else self.path.with_name(self.path.stem + ".listings")

    def listings(self) -> Optional[Listings]:
        """The directory listings stored with the last signature, if any (damaged: a warning)."""
        try:
            data = read_bounded(self.listings_path, MEMO_LIMIT, own=True) \
                if self.listings_path is not None else None
        except (FileNotFoundError, NotADirectoryError):  # a directory in the way: see memo_dir
            return None
        except (OSError, NotAFile) as exc:
            _warn_damaged(self.listings_path, _why(exc))
            return None
        listings = None if data is None else Listings.from_bytes(data)
        if data is not None and listings is None:
            _warn_damaged(self.listings_path, "not a listings file")
        return listings

    def remembered(self, signature: TreeSignature, parse: Callable[[Doc], Optional[T]]) -> Optional[T]:
        """The fingerprint stored with ``signature`` by an earlier run (read by ``parse``), if any."""
        doc = _read(self.tree_path)
        if doc is None or doc.get("signature") != signature.digest or doc.get("condapack") != __version__:
            return None
        fingerprint = doc.get("fingerprint")
        parsed = parse(fingerprint) if isinstance(fingerprint, dict) else None
        if parsed is None:
            _warn_damaged(self.tree_path, "no valid fingerprint")
        elif signature.listed and len(signature.listings) and self._trusted(signature):
            self._listings = signature.listings  # the stored ones are missing or out of date (not on Windows)
        return parsed

    def remember(self, signature: TreeSignature, fingerprint: Doc) -> None:
        """Store ``fingerprint`` for ``signature`` (at :meth:`save`), unless a change was racy."""
        if self._trusted(signature):
            self._tree = {"version": _VERSION, "condapack": __version__, "signature": signature.digest,
                          "fingerprint": fingerprint}
            self._listings = signature.listings

    def _trusted(self, signature: TreeSignature) -> bool:
        """Whether nothing in the tree changed close enough to this run's start to hide a later change."""
        return signature.newest_ctime_ns < self.started_ns - RACY_NS

    def _entries(self) -> dict[str, str]:
        if self._old is None:
            self._old = {}
            doc = _read(self.path)
            entries, started = (doc or {}).get("entries"), (doc or {}).get("started_ns")
            if doc is not None and not (isinstance(entries, dict) and isinstance(started, int)):
                _warn_damaged(self.path, "no entries")
            elif doc is not None:
                assert isinstance(entries, dict) and isinstance(started, int)
                # Entries of the wrong shape are dropped: they only cost a re-hash.
                self._old = {k: v for k, v in entries.items() if isinstance(v, str)}
                self._old_started = started
        return self._old

    def digest(self, rel: str, path: str, st: os.stat_result,
               compute: Callable[[str], str] = file_digest) -> str:
        """The content digest of ``path``, from the memo when its stat is unchanged."""
        key = _key(st)
        # taken out of the old entries as it joins the new ones: one copy in memory
        old = self._entries().pop(rel, None)
        if old is not None and old.startswith(key) and st.st_ctime_ns < self._old_started - RACY_NS:
            self._new[rel] = old
            return old[len(key):]
        value = compute(path)
        self.hashed += 1
        self._new[rel] = key + value
        return value

    def save(self) -> None:
        """Write what this run learnt (atomically), once; a failure only costs speed.

        The entries are then dropped from memory: a build saves before it packs.
        """
        if self.path is None or self._saved:
            return
        if self._old is not None:
            write_memo(self.path, _entries_json(self.started_ns, self._new))
        if self._listings is not None and self.listings_path is not None:
            write_memo(self.listings_path, self._listings.to_bytes())
        if self._tree is not None and self.tree_path is not None:
            write_memo(self.tree_path, json.dumps(self._tree, separators=(",", ":")).encode())
        self._saved = True
        self._old, self._new, self._listings = {}, {}, None


def write_memo(path: Path, data: Union[bytes, Iterable[bytes]]) -> None:
    """Write a memo file, best effort: one that cannot be written only costs the next run a rescan."""
    try:
        check_directory(path.parent)
        write_atomic(path, data)
    except (OSError, CondaPackError):
        pass

def memo_dir(state_dir: Path) -> Optional[Path]:
    """Where the memos of a project live; None (and one warning) when a file is in the way.

    A file at ``state_dir`` itself is left to the build, which cannot go on without it.
    """
    path = state_dir / "memo"
    if os.path.isdir(path) or not os.path.lexists(path):
        return path
    log.warning("%s: is not a directory, where condapack keeps its memos; every build rescans the environments "
                "until it is removed", path)
    return None


def remove_old_memos(state_dir: Path) -> None:
    """Remove the directory older versions kept the memos in: nothing but a rescan is lost.

    A build does it as it writes its ledger; planning changes no file.
    """
    old = state_dir / "statcache"
    if os.path.isdir(old) and not os.path.islink(old):
        shutil.rmtree(old, ignore_errors=True)


def _entries_json(started_ns: int, entries: dict[str, str]) -> Iterator[bytes]:
    """The entries file: the text of one ``json.dumps``, made a batch of entries at a time.

    Dumped at once, every entry's pieces, the text and its bytes would be in memory
    together: 100 MB at 200,000 files, the peak of a first build.
    """
    yield b'{"version":%d,"started_ns":%d,"entries":{' % (_VERSION, started_ns)
    items, separator = iter(entries.items()), b""
    while batch := dict(itertools.islice(items, 4096)):
        yield separator + json.dumps(batch, separators=(",", ":"))[1:-1].encode()
        separator = b","
    yield b"}}"


def _read(path: Optional[Path]) -> Optional[Doc]:
    """A memo file of this version; None when missing, old, or damaged (with a warning)."""
    if path is None:
        return None
    try:
        doc = json.loads(read_bounded(path, MEMO_LIMIT, own=True))
    except (FileNotFoundError, NotADirectoryError):  # a directory in the way: see memo_dir
        return None
    except (OSError, ValueError, RecursionError, NotAFile) as exc:
        _warn_damaged(path, _why(exc))
        return None
    if not isinstance(doc, dict):
        _warn_damaged(path, "not an object")
        return None
    return doc if doc.get("version") == _VERSION else None


def _why(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return exc.problem if isinstance(exc, NotAFile) else type(exc).__name__


def _warn_damaged(path: Optional[Path], detail: str) -> None:
    log.warning("%s: damaged memo (%s); rescanning the environment (it is rewritten after this run)",
                path, detail)
