"""The shared artifact cache: a build stage between planning and packing."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Optional

from .artifacts import ArtifactCache, CacheMiss, CacheSettings
from .stores import StoreError, open_store

if TYPE_CHECKING:
    from .key import artifact_key

log = logging.getLogger("condapack")

__all__ = ["ArtifactCache", "CacheMiss", "CacheSettings", "artifact_key", "open_cache"]


def __getattr__(name: str) -> Any:
    """``artifact_key`` on first use: it asks every compression library for its version."""
    if name == "artifact_key":
        from .key import artifact_key

        return artifact_key
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_cache(settings: CacheSettings) -> Optional[ArtifactCache]:
    """The cache the settings name, or None when caching is off."""
    if not settings.url:
        return None
    try:
        return ArtifactCache(open_store(settings.url, settings.timeout), settings)
    except StoreError as exc:
        if settings.require:
            raise CacheMiss(f"{exc}, and --require-cache forbids building without the cache") from None
        log.warning("%s; going on without the cache", exc)
        return None
