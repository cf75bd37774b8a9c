"""Filters over archive paths: conda-pack's ordered ``--exclude``/``--include``, and gitignore patterns."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Callable, Iterable, Sequence, Tuple, TypeVar

from .errors import CondaPackError

__all__ = ["Filter", "apply_filters", "gitignore_filter"]

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


def gitignore_filter(items: Sequence[T], patterns: Sequence[str], key: Callable[[T], str]) -> tuple[T, ...]:
    """The items whose path matches none of the gitignore-style ``patterns`` (``exclude`` in condapack.toml)."""
    import pathspec  # only a build with excludes pays for importing it

    spec = pathspec.GitIgnoreSpec.from_lines(patterns)
    return tuple(item for item in items if not spec.match_file(key(item)))
