"""The test tools are declared once, provisioned before pytest, and never silently missing."""

from __future__ import annotations

import shutil
from typing import Optional

import pytest

import systools


def test_every_declared_tool_is_installed() -> None:
    # tox provisions them first (python tests/systools.py); a bare pytest run says what to do
    assert systools.missing_tools() == []


def _hide(monkeypatch: pytest.MonkeyPatch, *hidden: str) -> None:
    real = shutil.which

    def which(cmd: str, *args: object, **kwargs: object) -> Optional[str]:
        return None if cmd in hidden else real(cmd)

    monkeypatch.setattr(shutil, "which", which)


def test_without_root_it_names_the_packages_on_one_line_and_fails(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _hide(monkeypatch, "zsh", "mksquashfs", "unsquashfs", "apt-get")
    assert systools.main() == 1
    assert capsys.readouterr().err == (
        "systools: the tests need zsh, mksquashfs, unsquashfs: install them with "
        "`apt-get install zsh squashfs-tools` (as root), then run the tests again\n")


def test_with_everything_present_it_does_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert systools.main() == 0
    assert capsys.readouterr() == ("", "")


def test_require_fails_rather_than_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "fish")
    with pytest.raises(pytest.fail.Exception) as failed:
        systools.require("fish")
    assert str(failed.value) == ("fish is not installed: run `python tests/systools.py` as root, "
                                 "or apt-get install fish")


def test_a_named_subset_is_all_it_provisions(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _hide(monkeypatch, "zsh", "skopeo", "apt-get")
    assert systools.main(["skopeo"]) == 1
    assert capsys.readouterr().err == (
        "systools: the tests need skopeo: install them with `apt-get install skopeo` (as root), "
        "then run the tests again\n")


def test_an_undeclared_tool_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert systools.main(["podman"]) == 2
    assert capsys.readouterr().err.startswith("systools: podman not declared in TOOLS; name some of: bash, dash, ")
