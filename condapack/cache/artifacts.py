"""Fetch a target's archive from the shared cache, or upload the one just built.

An object is used only when its bytes match the manifest stored beside it (sha256 and
size): it is streamed into a temporary file beside the output, checked, and renamed
into place. (Not against the lock's digest: an archive records the prefix it was
packed from, so a lock committed from a laptop names other bytes than CI's, and
both are right.) A
store that fails is reported once, in one warning line, and then left alone for the
rest of the build, which goes on locally.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Optional

from ..errors import CondaPackError
from ..output import atomic_output
from .settings import CacheSettings
from .stores import Store, StoreError

__all__ = ["ArtifactCache", "CacheMiss"]

log = logging.getLogger("condapack")
MANIFEST_VERSION = 1


class CacheMiss(CondaPackError):
    """``--require-cache`` and a target the cache cannot provide."""


class _Rejected(Exception):
    """A cached object that must not be used."""


class _HashingSink:
    """A file that hashes and counts what is written to it."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.sha, self.size = fh, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.fh.write(data)


class ArtifactCache:
    """One build's view of the cache: fetches, uploads and what went wrong."""

    def __init__(self, store: Store, settings: CacheSettings) -> None:
        self.store, self.settings = store, settings
        self.failed = False
        self._corrupt: set[str] = set()

    def fetch(self, name: str, key: str, output: Path) -> Optional[int]:
        """Put the cached archive of ``key`` at ``output``; its size, or None on a miss."""
        if self.settings.require:
            try:
                size = self._fetch(name, key, output)
            except StoreError as exc:
                raise CacheMiss(f"{name}: {exc}, and --require-cache forbids building without the cache") from None
            if size is None:
                raise CacheMiss(f"{name}: it is not in the cache ({self.store.url}) and --require-cache forbids "
                                "building it; build and upload it first (condapack build --cache-write)")
            return size
        return None if self.failed else self._guarded(lambda: self._fetch(name, key, output))

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

    def _fetch(self, name: str, key: str, output: Path) -> Optional[int]:
        manifest = self._manifest(name, key)
        if manifest is None:
            return None
        try:
            with atomic_output(output) as fh:
                sink = _HashingSink(fh)
                if not self.store.get(key, sink):
                    raise _Rejected("the object is missing")
                if (sink.sha.hexdigest(), sink.size) != (manifest["sha256"], manifest["size"]):
                    raise _Rejected("its bytes do not match its manifest")
        except _Rejected as exc:
            self._reject(name, key, str(exc))
            return None
        return sink.size

    def _manifest(self, name: str, key: str) -> Optional[dict[str, object]]:
        buffer = io.BytesIO()
        if not self.store.get(f"{key}.json", buffer):
            return None
        try:
            doc = json.loads(buffer.getvalue())
            if doc["version"] == MANIFEST_VERSION and isinstance(doc["sha256"], str) and \
                    isinstance(doc["size"], int):
                return {"sha256": doc["sha256"], "size": doc["size"]}
        except (ValueError, KeyError, TypeError):
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

