"""The bundled example release works end to end with make, and is a no-op the second time."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from systools import require

ROOT = Path(__file__).resolve().parent.parent


def make(root: Path, *goals: str) -> str:
    condapack = f"{shlex.quote(sys.executable)} -m condapack"
    proc = subprocess.run([require("make"), "--no-print-directory", f"CONDAPACK={condapack}",
                           f"PYTHON={shlex.quote(sys.executable)}", *goals],
                          cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.e2e
def test_release_example_builds_verifies_and_is_a_no_op_the_second_time(tmp_path: Path) -> None:
    release = tmp_path / "examples" / "release"
    shutil.copytree(ROOT / "examples" / "release", release,
                    ignore=shutil.ignore_patterns("envs", "dist", ".condapack", "condapack.lock"))
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    make(release, "envs")
    first = make(release, "-j2", "release")
    assert first.count("condapack build") == 3
    assert "release verified: dist/app.tar.gz dist/app.zip dist/tools.tar.zst" in first
    second = make(release, "-j2", "release")
    assert "condapack build" not in second
    sums = (release / "dist" / "SHA256SUMS").read_text().split()
    assert sums[1::2] == ["app.tar.gz", "app.zip", "tools.tar.zst"]
    (release / "envs" / "tools" / "share" / "added.txt").write_text("new file\n")
    third = make(release, "-j2", "release")
    assert third.count("condapack build") == 1 and "dist/tools.tar.zst" in third
