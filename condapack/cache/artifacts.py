"""Fetch a target's archive from the shared cache, or upload the one just built.

An object is used only when its bytes match the manifest stored beside it (sha256 and
size) and, when the lock records the target's sha256, when that manifest names the
same bytes: the cache never outranks the lock. It is streamed into a temporary file
beside the output, read no further than the manifest's size and from a regular file
only, checked, and renamed into place; anything that fails a check never becomes the
output. A store that fails is reported once, in one warning line, and then left alone
for the rest of the build, which goes on locally.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Optional, Union

import attrs

from ..errors import CondaPackError
from ..output import atomic_output, sweep_stale
from .settings import CacheSettings
from .stores import BadObject, Sink, Store, StoreError

__all__ = ["ArtifactCache", "CacheMiss", "LockMismatch"]

log = logging.getLogger("condapack")
MANIFEST_VERSION = 1
#: A manifest is a few lines of JSON: anything larger is not one.
MANIFEST_LIMIT = 64 * 1024


class CacheMiss(CondaPackError):
    """``--require-cache`` and a target the cache cannot provide."""


class LockMismatch(CondaPackError):
    """The cache holds an archive for the target, but not the one the lock records."""


class _Rejected(Exception):
    """A cached object that must not be used."""


class _HashingSink:
    """A file that hashes and counts what is written to it."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.sha, self.size = fh, hashlib.sha256(), 0

    def write(self, data: Union[bytes, memoryview]) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.fh.write(data)


@attrs.frozen
class _Manifest:
    """What an object's manifest says its bytes are."""

    sha256: str
    size: int


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class ArtifactCache:
    """One build's view of the cache: fetches, uploads and what went wrong."""

    def __init__(self, store: Store, settings: CacheSettings) -> None:
        self.store, self.settings = store, settings
        self.failed = False
        self._corrupt: set[str] = set()

    def fetch(self, name: str, key: str, output: Path, expected: Optional[str] = None) -> Optional[int]:
        """Put the cached archive of ``key`` at ``output``; its size, or None on a miss.

        ``expected``: the sha256 the lock records, which the archive must have; a cached
        archive with another raises :class:`LockMismatch` and ``output`` is left alone.
        """
        if self.settings.require:
            try:
                size = self._fetch(name, key, output, expected)
            except StoreError as exc:
                raise CacheMiss(f"{name}: {exc}, and --require-cache forbids building without the cache") from None
            if size is None:
                raise CacheMiss(f"{name}: it is not in the cache ({self.store.url}) and --require-cache forbids "
                                "building it; build and upload it first (condapack build --cache-write)")
            return size
        return None if self.failed else self._guarded(lambda: self._fetch(name, key, output, expected))

    def upload(self, name: str, key: str, output: Path, sha256: str, size: int) -> bool:
        """Store a freshly built archive and its manifest (write-once); True if uploaded."""
        if self.failed or not self.settings.write:
            return False
        manifest = {"version": MANIFEST_VERSION, "sha256": sha256, "size": size}
        return bool(self._guarded(lambda: self._upload(key, output, manifest)))

    def _guarded(self, action: Callable[[], Optional[int]]) -> Optional[int]:
        try:
            return action()
        except StoreError as exc:
            self.failed = True
            log.warning("%s; going on without the cache", exc)
            return None

    def _fetch(self, name: str, key: str, output: Path, expected: Optional[str]) -> Optional[int]:
        manifest = self._manifest(name, key)
        if manifest is None:
            return None
        if expected is not None and manifest.sha256 != expected:
            raise LockMismatch(f"{name}: the archive in the cache ({self.store.url}) has sha256 "
                               f"{manifest.sha256[:12]}... but the lock records {expected[:12]}...")
        for stale in sweep_stale(output):  # a fetch killed outright leaves its temporary
            log.info("removed %s, left behind by an interrupted run", stale)
        try:
            with atomic_output(output) as fh:
                sink = _HashingSink(fh)
                if not self._get(key, sink, manifest.size):
                    raise _Rejected("the object is missing")
                if (sink.sha.hexdigest(), sink.size) != (manifest.sha256, manifest.size):
                    raise _Rejected("its bytes do not match its manifest")
        except _Rejected as exc:
            self._reject(name, key, str(exc))
            return None
        return sink.size

    def _get(self, name: str, sink: Sink, limit: int) -> bool:
        try:
            return self.store.get(name, sink, limit)
        except BadObject as exc:
            raise _Rejected(f"the object {exc}") from None

    def _manifest(self, name: str, key: str) -> Optional[_Manifest]:
        buffer = io.BytesIO()
        try:
            if not self._get(f"{key}.json", buffer, MANIFEST_LIMIT):
                return None
            doc = json.loads(buffer.getvalue())
            if len(buffer.getvalue()) <= MANIFEST_LIMIT and doc["version"] == MANIFEST_VERSION and \
                    isinstance(doc["sha256"], str) and _is_size(doc["size"]):
                return _Manifest(doc["sha256"], doc["size"])
        except (ValueError, KeyError, TypeError, RecursionError, _Rejected):
            pass
        self._reject(name, key, "its manifest is unreadable")
        return None

    def _reject(self, name: str, key: str, why: str) -> None:
        self._corrupt.add(key)
        fix = "rebuilding and replacing it" if self.settings.write else "building it locally"
        log.warning("%s: ignoring the cached archive (%s); %s", name, why, fix)

    def _upload(self, key: str, output: Path, manifest: dict[str, object]) -> int:
        replace = key in self._corrupt
        with tempfile.TemporaryDirectory(prefix="condapack-manifest-") as tmp:
            doc = Path(tmp) / "manifest.json"
            doc.write_bytes(json.dumps(manifest, sort_keys=True).encode())
            # the archive first: a manifest is never visible before its object
            wrote = self.store.put(key, output, replace=replace)
            wrote = self.store.put(f"{key}.json", doc, replace=replace) or wrote
        return int(wrote)

