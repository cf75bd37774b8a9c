"""The shared artifact cache: a build stage between planning and packing."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Optional

from .settings import CacheSettings

if TYPE_CHECKING:
    from .artifacts import ArtifactCache, CacheMiss, LockMismatch
    from .key import artifact_key

log = logging.getLogger("condapack")

__all__ = ["ArtifactCache", "CacheMiss", "LockMismatch", "CacheSettings", "artifact_key", "open_cache"]


def __getattr__(name: str) -> Any:
    """The rest on first use: every build reads the settings, few builds use a cache
    (``artifact_key`` asks every compression library for its version)."""
    if name == "artifact_key":
        from .key import artifact_key

        return artifact_key
    if name in ("ArtifactCache", "CacheMiss", "LockMismatch"):
        from . import artifacts

        return getattr(artifacts, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_cache(settings: CacheSettings) -> Optional[ArtifactCache]:
    """The cache the settings name, or None when caching is off."""
    if not settings.url:
        return None
    from .artifacts import ArtifactCache, CacheMiss
    from .stores import StoreError, open_store

    try:
        return ArtifactCache(open_store(settings.url, settings.timeout), settings)
    except StoreError as exc:
        if settings.require:
            raise CacheMiss(f"{exc}, and --require-cache forbids building without the cache") from None
        log.warning("%s; going on without the cache", exc)
        return None
