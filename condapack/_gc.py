"""Pause the cyclic garbage collector around work that allocates many small objects.

Scanning a large environment creates ~100k objects that are never cyclic garbage;
generation-2 collections over them cost 15-20% of packing time for nothing.
"""

from __future__ import annotations

import functools
import gc
from typing import Callable, TypeVar

__all__ = ["gc_paused"]

F = TypeVar("F", bound=Callable[..., object])


def gc_paused(func: F) -> F:
    """Run ``func`` with the cyclic collector disabled (re-enabled after, if it was on)."""

    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return wrapper  # type: ignore[return-value]
