"""Trees at the system's limits: paths a written tree cannot hold, and very wide directories.

A directory output (``no-archive``, and squashfs, which stages one) is written below a
path of its own; a member that fits in the environment may not fit there. The
environment's own paths past ``PATH_MAX`` are refused when read
(``test_hostile.test_a_path_longer_than_path_max_is_a_one_line_error``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from condapack.cli import conda_pack_main
from condapack.output import temp_prefix
from helpers import shared_path
from systools import require

#: The longest path Linux takes, without its NUL.
LONGEST = os.pathconf("/", "PC_PATH_MAX") - 1
#: The prefix a package holds before it is installed.
PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"
#: What every refusal of a too-deep member says after its numbers.
DEPTH_FIX = ("; choose an output (for squashfs, a TMPDIR) with a shorter path, --exclude it, or pack to tar or "
             "zip\n")
#: Entries of the wide directory, and what packing them may take at most (a loaded 2-core machine).
WIDE, WIDE_SECONDS, WIDE_RSS = 100_000, 120, 250 << 20


def deep_name(length: int) -> str:
    """A member name of exactly ``length`` bytes: directories of 100 bytes, then a file."""
    parts = ["d" * 99] * ((length - 10) // 100)
    last = "f" * (length - len("/".join(parts)) - 1)
    return "/".join([*parts, last])


def bare_prefix(prefix: Path, subdir: str = "linux-64") -> Path:
    """An environment of one package built for ``subdir``: one text file holding its prefix
    (what tells where a Windows environment was installed), to add files to."""
    (prefix / "conda-meta").mkdir(parents=True)
    script = "@set HERE={}\r\n"
    (prefix / "bare.bat").write_text(script.format(r"C:\envs\bare"), newline="")
    entry = {"_path": "bare.bat", "path_type": "hardlink", "file_mode": "text", "prefix_placeholder": PLACEHOLDER,
             "sha256": hashlib.sha256(script.format(PLACEHOLDER).encode()).hexdigest()}
    record = {"name": "bare", "version": "1", "build": "0", "subdir": subdir, "files": ["bare.bat"],
              "paths_data": {"paths_version": 1, "paths": [entry]}}
    (prefix / "conda-meta" / "bare-1-0.json").write_text(json.dumps(record))
    return prefix


@pytest.fixture
def deep_env(tmp_path: Path) -> tuple[Path, str]:
    """An environment holding a file whose name, below the environment, fits with 300 bytes to spare."""
    prefix = bare_prefix(tmp_path / "env")
    name = deep_name(LONGEST - len(str(prefix)) - 1 - 300)
    (prefix / name).parent.mkdir(parents=True)
    (prefix / name).write_text("deep\n")
    return prefix, name


def test_a_directory_output_too_deep_for_the_system_is_refused_in_one_line_before_writing(
        deep_env: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prefix, name = deep_env
    parent = tmp_path / ("o" * 250) / ("p" * 250)
    parent.mkdir(parents=True)
    output = parent / "copy"
    assert conda_pack_main(["-p", str(prefix), "-o", str(output), "--format", "no-archive", "-q"]) == 1
    length = len(f"{parent}/{temp_prefix(output)}01234567.part/{name}")
    assert capsys.readouterr().err == (
        f"CondaPackError: cannot write {name} below {parent}: its path would be {length} bytes, and this system "
        f"allows {LONGEST}{DEPTH_FIX}")
    assert list(parent.iterdir()) == []


def test_a_squashfs_staged_too_deep_for_the_system_is_refused_in_one_line_naming_the_member(
        deep_env: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    require("mksquashfs")
    prefix, name = deep_env
    staging = tmp_path / ("t" * 250) / ("u" * 250)
    staging.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(staging))
    output = tmp_path / "env.squashfs"
    assert conda_pack_main(["-p", str(prefix), "-o", str(output), "-q"]) == 1
    below = f"{staging}/condapack-squashfs-"
    length = len(f"{below}{'x' * 8}/root/{name}")
    pattern = (f"CondaPackError: cannot write {re.escape(name)} below {re.escape(below)}[a-z0-9_]{{8}}: its path "
               f"would be {length} bytes, and this system allows {LONGEST}{re.escape(DEPTH_FIX)}")
    assert re.fullmatch(pattern, capsys.readouterr().err)
    assert not output.exists() and list(staging.iterdir()) == []


@pytest.mark.parametrize("fmt", ["no-archive", "squashfs"])
def test_a_deep_tree_that_fits_below_the_output_is_written_whole(
        fmt: str, deep_env: tuple[Path, str], tmp_path: Path) -> None:
    prefix, name = deep_env
    output = tmp_path / f"out.{fmt}"
    assert conda_pack_main(["-p", str(prefix), "-o", str(output), "--format", fmt, "-q"]) == 0
    if fmt == "squashfs":
        listing = subprocess.run([require("unsquashfs"), "-lc", "-d", "", str(output)], capture_output=True,
                                 text=True, check=True).stdout
        assert f"/{name}" in listing.splitlines()
    else:
        assert (output / name).read_text() == "deep\n"


# --------------------------------------------------------------------------
# 100,000 entries in one directory
# --------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["linux-64", "win-64"])
def wide_env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    subdir = str(request.param)

    def create(path: Path) -> None:
        wide = bare_prefix(path, subdir) / "share" / "wide"
        wide.mkdir(parents=True)
        for i in range(WIDE):
            os.close(os.open(wide / f"item-{i:06d}.txt", os.O_CREAT | os.O_WRONLY, 0o644))

    return shared_path(tmp_path_factory, f"trees/wide-{subdir}", create)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["tar", "zip"])
def test_a_directory_of_100000_entries_packs_in_bounded_time_and_memory(
        fmt: str, wide_env: Path, tmp_path: Path) -> None:
    output = tmp_path / f"wide.{fmt}"
    seconds, rss = run_measured([sys.executable, "-c", PEAK_RSS, "pack", "-p", str(wide_env), "-o", str(output),
                                 "-q"], tmp_path)
    assert seconds < WIDE_SECONDS and rss < WIDE_RSS, (seconds, rss)
    assert sum(name.startswith("share/wide/item-") for name in names_in(output)) == WIDE


def run_measured(command: list[str], cwd: Path) -> tuple[float, int]:
    """Wall seconds and the peak RSS, in bytes, that ``command`` (running :data:`PEAK_RSS`) reports.

    Not the child's rusage: Linux carries the peak of the process that forked it (this
    pytest worker, after whatever ran in it before) across exec, so only the new memory
    map's own high-water mark, VmHWM, is the packer's."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    return seconds, int(done.stderr.split()[-1]) * 1024  # VmHWM, kB


#: ``condapack`` with its arguments, then its own peak RSS (VmHWM, kB) as the last word on stderr.
PEAK_RSS = """
import runpy, sys
sys.argv = ["condapack", *sys.argv[1:]]
try:
    runpy.run_module("condapack", run_name="__main__")
finally:
    with open("/proc/self/status") as fh:
        sys.stderr.write([line.split()[1] for line in fh if line.startswith("VmHWM:")][0] + "\\n")
"""


def names_in(archive: Path) -> list[str]:
    """The member names of a tar or zip archive."""
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            return zf.namelist()
    with tarfile.open(archive) as tf:
        return tf.getnames()
