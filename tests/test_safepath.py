"""Pin safepath's rules for names and paths from input, Windows spellings included."""

from __future__ import annotations

import os

import pytest

from condapack.unpack.safepath import UnsafePath, absolute_path, is_windows_absolute, relative_path


def test_windows_absolute_paths_are_drive_or_unc_paths() -> None:
    assert [is_windows_absolute(p) for p in ("C:\\x", "c:/x", "\\\\srv\\share", "/opt", "C:", "x\\y")] == [
        True, True, True, False, False, False]


@pytest.mark.parametrize("path,absolute", [
    ("z:\\", True), ("Z:/", True), ("\\\\s", True), ("\\\\s\n", True), ("\\\\\\s", False), ("\\\\/s", False),
    ("\\\\", False), ("\\s", False), ("1:\\x", False), ("\u00e9:\\x", False), ("Cx\\", False), ("", False),
])
def test_windows_absolute_is_an_ascii_drive_and_a_slash_or_two_backslashes_and_a_server(
        path: str, absolute: bool) -> None:
    assert is_windows_absolute(path) is absolute


@pytest.mark.parametrize("name", ["C:x", "c:", "\\x", "/x"])
def test_on_windows_a_drive_or_rooted_name_is_not_relative(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "name", "nt")
    with pytest.raises(UnsafePath, match="must be a relative path, got "):
        relative_path(name)


@pytest.mark.parametrize("name", ["Cx/y", "1:x", "\u00e9:x", "a/C:x"])
def test_on_windows_a_name_without_a_drive_is_relative(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "name", "nt")
    assert relative_path(name) == name


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
