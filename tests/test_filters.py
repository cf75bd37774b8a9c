"""Pin conda-pack's ordered --exclude/--include semantics."""

from __future__ import annotations

import pytest

from condapack.errors import CondaPackError
from condapack.filters import apply_filters

PATHS = ["bin/python", "lib/a.pyx", "lib/cytoolz/b.pyx", "lib/c.py"]


def _run(filters: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    return apply_filters(PATHS, [], filters, key=str)


def test_exclude_drops_matching_paths() -> None:
    kept, dropped = _run([("exclude", "*.pyx")])
    assert kept == ["bin/python", "lib/c.py"]
    assert dropped == ["lib/a.pyx", "lib/cytoolz/b.pyx"]


def test_include_brings_back_only_previously_excluded_matches() -> None:
    kept, _ = _run([("exclude", "*.pyx"), ("include", "lib/cytoolz/*.pyx")])
    assert sorted(kept) == ["bin/python", "lib/c.py", "lib/cytoolz/b.pyx"]


def test_order_matters_include_before_exclude_has_no_effect() -> None:
    kept, _ = _run([("include", "lib/cytoolz/*.pyx"), ("exclude", "*.pyx")])
    assert kept == ["bin/python", "lib/c.py"]


def test_star_matches_across_directories_like_fnmatch() -> None:
    kept, _ = _run([("exclude", "lib/*")])
    assert kept == ["bin/python"]


def test_unknown_filter_kind_is_an_error() -> None:
    with pytest.raises(CondaPackError, match="Unknown filter of kind 'drop'; use 'exclude' or 'include'"):
        _run([("drop", "*")])
