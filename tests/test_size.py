"""condapack size: the numbers add up for environments and archives, in text, JSON and every format."""

from __future__ import annotations

import json
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from condapack.cli import main
from condapack.size import size_archive, size_environment
from condapack.size.model import CONDA_META, GENERATED, UNMANAGED
from envkit import EnvFactory
from helpers import pack


def _disk_bytes(prefix: Path) -> tuple[int, int]:
    """(entries, bytes) of regular files, symlinks and empty directories, walked independently."""
    count = total = 0
    for root, dirs, files in os.walk(prefix):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            count += 1
            st = os.lstat(os.path.join(root, name))
            total += st.st_size if not os.path.islink(os.path.join(root, name)) else 0
        if not dirs and not files and root != str(prefix):
            count += 1
    return count, total


def _tar_members(archive: Path) -> list[tarfile.TarInfo]:
    """The tar's non-directory members, read with the standard library (and zstandard for .zst)."""
    with open(archive, "rb") as raw:
        if archive.name.endswith(".zst"):
            import zstandard

            with zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) as stream, \
                    tarfile.open(fileobj=stream, mode="r|") as tf:
                return [m for m in tf if not m.isdir()]
        with tarfile.open(fileobj=raw) as tf:
            return [m for m in tf.getmembers() if not m.isdir()]


def test_packages_and_kinds_add_up_to_the_environments_bytes_on_disk_exactly(real_env: EnvFactory) -> None:
    env = real_env("pip_unmanaged")
    report = size_environment(env)
    assert (report.files, report.size) == _disk_bytes(env)
    assert sum(p.size for p in report.packages) == report.size == sum(k.size for k in report.kinds)
    assert sum(p.files for p in report.packages) == report.files == sum(k.files for k in report.kinds)
    names = {p.name for p in report.packages}
    assert {"python", "pip", "cpdemo-py", "cpdemo-tools", CONDA_META, UNMANAGED} <= names
    assert {k.name for k in report.kinds} >= {"bytecode", "unmanaged", "other"}
    versions = {p.name: p.version for p in report.packages}
    assert versions["cpdemo-tools"] == "1.0"


@pytest.mark.parametrize("fmt", ["tar.gz", "tar.zst", "tar.xz", "tar", "zip"])
def test_member_shares_add_up_to_the_archive_and_match_its_members(real_env: EnvFactory, tmp_path: Path,
                                                                   fmt: str) -> None:
    env = real_env("basic")
    archive = tmp_path / f"env.{fmt}"
    pack(env, archive)
    report = size_archive(str(archive))
    assert report.stored + report.overhead == archive.stat().st_size
    assert sum(p.stored for p in report.packages) == report.stored == sum(k.stored for k in report.kinds)
    if fmt == "zip":
        with zipfile.ZipFile(archive) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
        assert report.stored == sum(i.compress_size for i in infos)
        assert report.size == sum(i.file_size for i in infos)
    else:
        members = _tar_members(archive)
        assert (report.files, report.size) == (len(members), sum(m.size for m in members))
    assert all(i.stored >= 0 for i in report.items)


def test_an_archive_names_the_same_packages_and_files_as_its_environment(real_env: EnvFactory,
                                                                         tmp_path: Path) -> None:
    env = real_env("basic")
    archive = tmp_path / "env.tar.gz"
    pack(env, archive, "--arcroot", "app")
    on_disk = {p.name: p for p in size_environment(env).packages}
    in_archive = {p.name: p for p in size_archive(str(archive)).packages}
    for name in ("python", "pip", "cpdemo-py", "cpdemo-tools"):
        assert in_archive[name].files == on_disk[name].files, name
    assert GENERATED in in_archive  # conda-unpack and the activate scripts condapack adds
    assert UNMANAGED not in on_disk and UNMANAGED not in in_archive  # the scripts are not the user's files


def test_what_a_preset_or_pattern_would_remove_is_reported_per_package(real_env: EnvFactory) -> None:
    env = real_env("basic")
    report = size_environment(env, slim=("bytecode",), exclude=("*.so",))
    bytecode, libraries = report.savings
    kind = {k.name: k for k in report.kinds}["bytecode"]
    assert (bytecode.rule, bytecode.files, bytecode.size) == ("bytecode", kind.files, kind.size)
    assert sum(p.size for p in bytecode.packages) == bytecode.size
    so_files = [p for p in env.rglob("*.so") if not p.is_dir() or p.is_symlink()]
    assert (libraries.rule, libraries.files) == ("*.so", len(so_files))
    assert {p.name for p in libraries.packages} == {"python", "cpdemo-tools"}


def test_size_prints_aligned_text_and_json_and_writes_the_html_page(real_env: EnvFactory, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    env = real_env("basic")
    page = tmp_path / "report.html"
    assert main(["size", str(env), "--html", str(page), "--slim", "bytecode"]) == 0
    text = capsys.readouterr().out
    table = text.split("\n\n")[1].splitlines()
    assert table[0].startswith("Package") and len({line.index("%") for line in table[1:]}) == 1
    assert "What each rule would remove" in text
    assert page.read_bytes().startswith(b"<!DOCTYPE html>")
    assert main(["size", str(env), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["what"] == "environment" and doc["size"] == sum(p["size"] for p in doc["packages"])


def test_size_errors_are_one_line_naming_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "notes.tar.gz"
    bogus.write_bytes(b"not an archive")
    assert main(["size", str(bogus)]) == 1
    assert main(["size", str(tmp_path), "--slim", "test"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [f"condapack: error: {bogus}: not a readable tar.gz archive (zlib error: Error -3 while "
                   "decompressing data: incorrect header check); check that it is complete",
                   "condapack: error: --slim: unknown preset 'test' (did you mean 'tests'?)"]


@pytest.mark.parametrize("pattern", ["!share/doc/", "", "# a comment", "\\", "[z-a]", "/"])
def test_an_exclude_pattern_that_selects_nothing_is_one_line_before_anything_is_read(
        pattern: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["size", str(tmp_path / "no-such-env"), "--exclude", "*.a", "--exclude", pattern]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"condapack: error: --exclude {pattern!r}: not a pattern that selects files; give a gitignore-style "
        "pattern such as '*.a' or 'share/doc/'"]


def test_the_html_page_fetches_nothing_and_a_hostile_file_name_stays_data() -> None:
    from condapack.size import Item, render_html
    from condapack.size.analyse import analyse

    hostile = "lib/</script><script>fetch('//x')</script><!--.so"
    items = [Item(hostile, 10, 10, "pkg", "other"), Item("bin/tool", 5, 5, "pkg", "other")]
    page = render_html(analyse("env", "environment", items)).decode()
    assert (page.count("<script"), page.count("</script>"), page.count("<!--")) == (2, 2, 1)  # the template's own
    assert "default-src 'none'" in page and "http" not in page.replace('http-equiv="Content-Security-Policy"', "")
    data = page.split('<script id="report-data" type="application/json">', 1)[1].split("</script>", 1)[0]
    assert json.loads(data)["report"]["largest_files"][0]["path"] == hostile
