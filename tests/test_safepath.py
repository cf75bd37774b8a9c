"""Pin safepath's rules for names and paths from input, Windows spellings included."""

from __future__ import annotations

import pytest

from condapack.safepath import UnsafePath, absolute_path, is_windows_absolute, relative_path


def test_windows_absolute_paths_are_drive_or_unc_paths() -> None:
    assert [is_windows_absolute(p) for p in ("C:\\x", "c:/x", "\\\\srv\\share", "/opt", "C:", "x\\y")] == [
        True, True, True, False, False, False]


def test_an_absolute_path_may_be_posix_or_windows() -> None:
    assert [absolute_path(p) for p in ("/opt/app", "C:\\opt\\app", "c:/opt", "\\\\srv\\share")] == [
        "/opt/app", "C:\\opt\\app", "c:/opt", "\\\\srv\\share"]


@pytest.mark.parametrize("name", ["opt/app", "C:", "C:opt", "\\opt"])
def test_a_relative_or_drive_relative_path_is_not_absolute(name: str) -> None:
    with pytest.raises(UnsafePath, match="must be an absolute path, got "):
        absolute_path(name)


@pytest.mark.parametrize("name", ["..\\x", "a\\..\\..\\b", "a/..\\b"])
def test_dotdot_between_backslashes_is_refused_as_windows_would_split_there(name: str) -> None:
    with pytest.raises(UnsafePath) as info:
        relative_path(name)
    assert str(info.value) == f"may not contain '..', got {name!r}"


def test_a_backslash_inside_a_name_is_kept() -> None:
    assert relative_path("share/a\\b.txt") == "share/a\\b.txt"
