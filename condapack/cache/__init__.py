"""The shared artifact cache: a build stage between planning and packing."""

from __future__ import annotations

import logging
from typing import Optional

from .artifacts import ArtifactCache, CacheMiss, CacheSettings
from .key import artifact_key
from .stores import StoreError, open_store

log = logging.getLogger("condapack")

__all__ = ["ArtifactCache", "CacheMiss", "CacheSettings", "artifact_key", "open_cache"]


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
