"""Where the shared artifact cache is and how a build uses it: read by every build, so light."""

from __future__ import annotations

from typing import Optional

import attrs

__all__ = ["CacheSettings"]


@attrs.frozen
class CacheSettings:
    """Where the cache is and how to use it (``[cache]``, ``--cache``, ``CONDAPACK_CACHE``)."""

    url: Optional[str] = None
    write: bool = False
    require: bool = False
    timeout: float = 30.0
