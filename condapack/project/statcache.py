"""Content digests of files, re-hashing only what changed since the last run.

An entry is trusted when size, mtime, ctime and inode all match what was recorded and
the file was not modified "racily": an mtime at or after the moment the previous scan
started could hide a later write within the same timestamp tick, so such entries are
always hashed again (git's index uses the same rule).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable, Optional

from ..digest import file_digest

__all__ = ["StatCache"]

_VERSION = 1


def _key(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


class StatCache:
    """A per-environment map of path -> (stat key, digest), stored as JSON."""

    def __init__(self, path: Optional[Path]) -> None:
        self.path = path
        self.started_ns = time.time_ns()
        self._old: dict[str, list[object]] = {}
        self._old_started = 0
        self._new: dict[str, list[object]] = {}
        self.hashed = 0
        if path is not None:
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError, RecursionError):
            return
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            return
        entries, started = data.get("entries"), data.get("started_ns")
        if isinstance(entries, dict) and isinstance(started, int):
            # Entries of the wrong shape are dropped: they only cost a re-hash.
            self._old = {k: v for k, v in entries.items()
                         if isinstance(v, list) and len(v) == 2 and isinstance(v[1], str)}
            self._old_started = started

    def digest(self, rel: str, path: str, st: os.stat_result,
               compute: Callable[[str], str] = file_digest) -> str:
        """The content digest of ``path``, from the cache when its stat is unchanged."""
        key = _key(st)
        old = self._old.get(rel)
        if old is not None and old[0] == key and st.st_mtime_ns < self._old_started:
            value = str(old[1])
        else:
            value = compute(path)
            self.hashed += 1
        self._new[rel] = [key, value]
        return value

    def save(self) -> None:
        """Write the entries seen in this run (atomically); a failure only costs speed."""
        if self.path is None:
            return
        doc = {"version": _VERSION, "started_ns": self.started_ns, "entries": self._new}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(doc, separators=(",", ":")))
            os.replace(tmp, self.path)
        except OSError:
            pass
