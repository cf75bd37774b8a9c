"""A location-independent fingerprint of an environment's content, cheap to recompute.

Conda-managed files are identified by their packages (name, version, build, channel,
package hash) as recorded in ``conda-meta``, without reading them; a managed file whose
size no longer matches its record is hashed like an unmanaged one. Unmanaged files are
hashed through a :class:`~condapack.project.statcache.StatCache`, with the environment's own
prefix replaced by a marker, so the same environment at another path (another checkout,
another machine) has the same fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Optional

import attrs

from .._gc import gc_paused
from ..prefix import Entry, Reading, keep_unmanaged, looks_modified
from ..records import PackageRecord, channel_name
from .statcache import StatCache

__all__ = ["EnvFingerprint", "fingerprint_env", "package_ids"]

_MARKER = b"\0condapack-prefix\0"


@attrs.frozen
class EnvFingerprint:
    """Packages and unmanaged-content digest of one environment."""

    packages: tuple[tuple[tuple[str, str], ...], ...]
    files_count: int
    files_digest: str
    files: tuple[tuple[str, str], ...] = attrs.field(eq=False, repr=False)

    @property
    def digest(self) -> str:
        """One digest over everything."""
        doc = {"packages": [dict(p) for p in self.packages], "files": self.files_digest}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()

    def packages_json(self) -> list[dict[str, str]]:
        """Packages as lock entries."""
        return [dict(p) for p in self.packages]


def package_ids(packages: tuple[PackageRecord, ...]) -> tuple[tuple[tuple[str, str], ...], ...]:
    """Each package's identity as sorted (key, value) pairs."""
    return tuple(
        tuple(sorted({"name": p.name, "version": p.version, "build": p.build, "channel": channel_name(p.channel),
                      "sha256": p.sha256}.items()))
        for p in packages
    )


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


def _entry_digest(prefix: Path, rel: str, entry: Entry, cache: StatCache) -> str:
    if entry.kind == "dir":
        return "dir"
    if entry.kind == "symlink":
        target = (entry.link_target or "").replace(str(prefix), _MARKER.decode())
        return f"link:{target}"
    path = os.path.join(prefix, rel)
    digest = cache.digest(rel, path, os.lstat(path), lambda p: normalized_digest(p, str(prefix).encode()))
    return f"{'x' if entry.mode & 0o111 else '-'}:{digest}"


def _is_record(rel: str) -> bool:
    # conda-meta records are covered by the package list; their raw bytes name the
    # packing machine's package cache.
    return rel.startswith("conda-meta/") and rel.count("/") == 1 and rel.endswith(".json")


@gc_paused
def fingerprint_env(reading: Reading, cache: Optional[StatCache] = None) -> EnvFingerprint:
    """Fingerprint an environment as read (re-hashing only changed files)."""
    cache = cache or StatCache(None)
    prefix, packages, disk, owners = reading.prefix, reading.packages, reading.disk, reading.owners
    layout = reading.layout
    files: list[tuple[str, str]] = []
    for rel, entry in sorted(disk.items()):
        owner = owners.get(rel)
        if owner is not None and not looks_modified(owner[1], entry):
            continue
        if owner is None and (_is_record(rel) or not keep_unmanaged(rel, owners, layout)):
            continue
        files.append((rel, _entry_digest(prefix, rel, entry, cache)))
    missing = sorted(rel for rel in owners if rel not in disk)
    files += [(rel, "missing") for rel in missing]
    summary: dict[str, Any] = {"files": files}
    digest = hashlib.sha256(json.dumps(summary, sort_keys=True).encode()).hexdigest()
    return EnvFingerprint(package_ids(packages), len(files), digest, tuple(files))
