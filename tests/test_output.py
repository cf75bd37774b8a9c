"""Publishing an output: linked or renamed into place, and what happens when its temporary is gone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from condapack import output
from condapack.errors import ArchiveError


@pytest.mark.parametrize("overwrite", [True, False])
def test_a_finished_temp_swept_before_its_rename_is_a_one_line_error_and_the_old_output_stays(
        tmp_path: Path, overwrite: bool) -> None:
    # on Windows a pack closes its temp before renaming it; another pack's sweep may take it meanwhile
    target = tmp_path / "env.zip"
    target.write_bytes(b"the earlier archive")
    swept = output.temp_name(target, ".part")
    with pytest.raises(ArchiveError) as info:
        output._publish(swept, target, overwrite)
    assert str(info.value) == (f"the finished archive for '{target}' was removed before it was put in place (by "
                               "another pack to the same output?); pack again, one pack per output at a time")
    assert target.read_bytes() == b"the earlier archive"


def test_a_missing_output_directory_is_not_mistaken_for_a_swept_temp(tmp_path: Path) -> None:
    temp = tmp_path / "made.part"
    temp.write_bytes(b"archive")
    with pytest.raises(FileNotFoundError):
        output._publish(str(temp), tmp_path / "gone" / "env.zip", True)
    assert temp.read_bytes() == b"archive"


def test_publishing_without_overwrite_leaves_an_existing_file_and_says_so(tmp_path: Path) -> None:
    final, temp = tmp_path / "object", tmp_path / ".object.1234abcd.part"
    final.write_bytes(b"first")
    temp.write_bytes(b"second")
    assert output.publish(str(temp), final, overwrite=False) is False
    assert (final.read_bytes(), temp.read_bytes()) == (b"first", b"second")


def test_publishing_without_hard_links_renames_the_file_into_place(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(source: str, target: Path) -> None:
        raise PermissionError(1, "Operation not permitted")  # what vfat and some SMB mounts answer

    monkeypatch.setattr(os, "link", no_links)
    final, temp = tmp_path / "object", tmp_path / ".object.1234abcd.part"
    temp.write_bytes(b"data")
    assert output.publish(str(temp), final, overwrite=False) is True
    assert final.read_bytes() == b"data" and not temp.exists()
