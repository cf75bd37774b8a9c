"""conda-pack's ordered ``--exclude``/``--include`` filters over archive paths."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Callable, Iterable, Sequence, Tuple, TypeVar

from .errors import CondaPackError

__all__ = ["Filter", "apply_filters"]

Filter = Tuple[str, str]
T = TypeVar("T")


def _split(items: Iterable[T], pattern: str, key: Callable[[T], str]) -> tuple[list[T], list[T]]:
    """Partition ``items`` into (not matching, matching) ``pattern`` by shell glob."""
    keep: list[T] = []
    matched: list[T] = []
    for item in items:
        (matched if fnmatchcase(key(item), pattern) else keep).append(item)
    return keep, matched


def apply_filters(items: Sequence[T], excluded: Sequence[T], filters: Iterable[Filter],
                  key: Callable[[T], str]) -> tuple[list[T], list[T]]:
    """Apply filters in order: ``exclude`` drops matches, ``include`` brings back dropped ones."""
    kept, dropped = list(items), list(excluded)
    for kind, pattern in filters:
        if kind == "exclude":
            kept, matched = _split(kept, pattern, key)
            dropped += matched
        elif kind == "include":
            dropped, matched = _split(dropped, pattern, key)
            kept += matched
        else:
            raise CondaPackError(f"Unknown filter of kind {kind!r}; use 'exclude' or 'include'")
    return kept, dropped
