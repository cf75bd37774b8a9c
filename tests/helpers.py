"""Shared steps of the end-to-end tests: pack, extract with standard tools, run, check."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest

import envkit
from condapack.cli import conda_pack_main
from systools import require

HOST_PATH = "/usr/local/bin:/usr/bin:/bin"


def pack(env: Path, output: Path, *extra: str) -> None:
    """Pack with the conda-pack command line, in process; fail loudly."""
    assert conda_pack_main(["-p", str(env), "-o", str(output), "-q", *extra]) == 0


def extract(archive: Path, dest: Path) -> Path:
    """Unpack with the standard tools, as a user would (GNU tar detects compression)."""
    if archive.is_dir():
        shutil.copytree(archive, dest, symlinks=True)
        return dest
    if archive.name.endswith(".squashfs"):
        dest.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["unsquashfs", "-q", "-n", "-d", str(dest), str(archive)], check=True,
                       stdout=subprocess.DEVNULL)
        return dest
    dest.mkdir(parents=True)
    if archive.name.endswith(".zip"):
        subprocess.run(["unzip", "-q", str(archive), "-d", str(dest)], check=True)
    else:
        # In the directory, not -C: GNU tar reads escapes such as a backslash-n in -C's argument.
        subprocess.run(["tar", "-xf", str(archive.absolute())], cwd=dest, check=True)
    return dest


def run(cmd: list[str], **kwargs: object) -> str:
    """Run with a PATH that has no environment on it; return stdout."""
    env = {"PATH": HOST_PATH, "HOME": os.environ.get("HOME", "/")}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return str(result.stdout)


def files_mentioning(root: Path, needle: str) -> list[str]:
    """Regular files under ``root`` whose bytes contain ``needle``."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and needle.encode() in path.read_bytes():
            found.append(path.relative_to(root).as_posix())
    return sorted(found)


def assert_works_at(prefix: Path, old: str) -> None:
    """The unpacked env at ``prefix`` behaves as if installed there."""
    python = prefix / envkit.PYTHON_BIN
    assert run([str(python), "-c", "import sys; print(sys.prefix)"]) == f"{prefix}\n"
    hello = run([str(prefix / envkit.ENTRY_POINT)]).splitlines()
    assert hello[0] == str(prefix)
    assert hello[1].startswith(f"{prefix}/{envkit.SITE_PACKAGES}/cpdemo/")
    assert run([str(prefix / envkit.C_PROGRAM)]) == f"{prefix}\n{prefix}\n"
    assert run([str(prefix / envkit.PYTHON_SCRIPT)]) == f"{prefix}\n"
    # .pyc files keep the packing machine's path in co_filename: Python replaces it with
    # the real source path when it loads them, so they are left byte-identical.
    leftovers = [p for p in files_mentioning(prefix, old) if not p.endswith(".pyc")]
    assert leftovers == []


def assert_works_after_moving_again(prefix: Path, tmp_path: Path) -> Path:
    """Move the unpacked env at ``prefix`` once more, run its conda-unpack there, check it; the new place."""
    for shell in ("bash", "dash"):
        assert_activation_works(prefix, shell)
    moved = tmp_path / "moved" / "again"
    moved.parent.mkdir()
    prefix.rename(moved)
    run([str(moved / "bin/conda-unpack")])
    assert_works_at(moved, str(prefix))
    return moved


def assert_activation_works(prefix: Path, shell: str) -> None:
    script = (
        f". {prefix}/bin/activate; echo \"$CONDA_PREFIX\"; echo \"$CPDEMO_ACTIVE\"; "
        "command -v python; "
        f". {prefix}/bin/deactivate; echo \"${{CONDA_PREFIX-unset}}\"; echo \"${{CPDEMO_ACTIVE-unset}}\"; "
        "echo \"$PATH\""
    )
    lines = run([shell, "-c", script]).splitlines()
    assert lines == [str(prefix), "1", f"{prefix}/bin/python", "unset", "unset", HOST_PATH]


def minimal_host(directory: Path) -> Path:
    """A PATH directory holding only busybox applets: a host without Python or coreutils."""
    busybox = require("busybox")
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run([busybox, "--install", "-s", str(directory)], check=True)
    assert not (directory / "python3").exists()
    return directory


def shared_path(factory: pytest.TempPathFactory, name: str, create: Callable[[Path], object]) -> Path:
    """``name`` (``dir/name`` keeps the last part as the file name, as an env's name matters) in a
    directory every pytest-xdist worker of this run shares, made once by ``create``.

    For what tests only read (an environment, an archive): the first worker to ask makes
    it under a lock, the others wait and reuse it. Without xdist it is made in the run's
    own temporary directory.
    """
    base = factory.getbasetemp()
    root = (base.parent if base.name.startswith("popen-gw") else base) / "shared"
    path, done = root / name, root / f"{name}.done"
    with envkit.file_lock(root / f"{name}.lock"):
        if not done.exists():
            shutil.rmtree(path, ignore_errors=True)  # what a failed attempt left
            path.parent.mkdir(parents=True, exist_ok=True)
            create(path)
            done.touch()
    return path
