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


TARGET_PROJECT = """\
output-dir = "dist"
[env.a]
prefix = "{a}"
formats = ["tar", "tar.gz"]
exclude = ["*.txt"]
"""


def _target_project(tmp_path: Path, env: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "condapack.toml").write_text(TARGET_PROJECT.format(a=os.path.relpath(env, root)))
    return root / "condapack.toml"


def test_size_of_a_target_is_its_environment_without_its_excludes_and_reuses_the_memo(
        real_env: EnvFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import condapack.prefix
    from condapack.project import memo

    env = real_env("pip_unmanaged")
    config = _target_project(tmp_path, env)
    monkeypatch.chdir(config.parent)
    whole = size_environment(env)
    kept = [i for i in whole.items if not i.path.endswith(".txt")]
    assert len(kept) < whole.files
    assert main(["size", "a:tar", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["files"], first["size"]) == (len(kept), sum(i.size for i in kept))
    cached = config.parent / ".condapack" / "memo" / "a.size.json"
    assert not cached.exists()  # the environment was just made: its tree is not trusted yet
    monkeypatch.setattr(memo, "RACY_NS", 0)
    assert main(["size", "a:tar", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == first and cached.is_file()

    read_prefix = condapack.prefix.read_prefix

    def no_read(prefix: Path) -> None:
        raise AssertionError("read the environment again")

    monkeypatch.setattr(condapack.prefix, "read_prefix", no_read)
    assert main(["size", "a:tar", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == first
    (env / "added.bin").write_bytes(b"x" * 1000)  # a changed tree is read again
    monkeypatch.setattr(condapack.prefix, "read_prefix", read_prefix)
    assert main(["size", "a:tar", "--json"]) == 0
    third = json.loads(capsys.readouterr().out)
    assert (third["files"], third["size"]) == (len(kept) + 1, first["size"] + 1000)


def test_size_of_an_env_key_with_two_targets_asks_for_one(real_env: EnvFactory, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    config = _target_project(tmp_path, real_env("basic"))
    assert main(["size", "a", "-c", str(config)]) == 1
    assert capsys.readouterr().err == ("condapack: error: size takes one target, and 'a' names 2 (a:tar, a:tar.gz); "
                                       "name one as ENV:FORMAT\n")


def test_size_of_env_format_without_a_project_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["size", "web:tar.gz"]) == 1
    assert capsys.readouterr().err == ("condapack: error: 'web:tar.gz' names a target (ENV:FORMAT) and there is no "
                                       "condapack.toml here or upwards; pass -c/--config PATH\n")


def test_build_report_is_written_beside_each_archive_listed_reproducible_and_kept(
        real_env: EnvFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from condapack.project.build import build
    from condapack.project.config import load_project

    config = _target_project(tmp_path, real_env("basic"))
    dist = config.parent / "dist"
    assert main(["build", "--report", "-q", "-c", str(config)]) == 0
    pages = sorted(p.name for p in dist.glob("*.size.html"))
    archives = sorted(p.name for p in dist.iterdir() if p.name.endswith((".tar", ".tar.gz")))
    assert pages == sorted(f"{a}.size.html" for a in archives) and len(pages) == 2
    sums = (dist / "SHA256SUMS").read_text()
    assert all(f"  {name}\n" in sums for name in pages + archives)
    first = {name: (dist / name).read_bytes() for name in pages}
    assert all(b"cpdemo" in page and str(tmp_path).encode() not in page for page in first.values())
    mtimes = {name: (dist / name).stat().st_mtime_ns for name in pages}
    assert not any(r.made for r in build(load_project(config), report=True))  # a no-op keeps the pages
    assert {name: (dist / name).stat().st_mtime_ns for name in pages} == mtimes
    (dist / pages[0]).unlink()  # a removed page is rewritten, the archive is not rebuilt
    assert not any(r.made for r in build(load_project(config), report=True))
    assert {name: (dist / name).read_bytes() for name in pages} == first
    build(load_project(config), force=True, report=True)  # a rebuild writes the same bytes
    assert {name: (dist / name).read_bytes() for name in pages} == first
    tar = next(t.output for t in load_project(config).targets if t.name == "a:tar")
    build(load_project(config), ["a:tar"], force=True)  # rebuilt without --report: its old page goes
    assert sorted(p.name for p in dist.glob("*.size.html")) == [p for p in pages if p != f"{tar.name}.size.html"]
    assert f"  {tar.name}.size.html\n" not in (dist / "SHA256SUMS").read_text()


def test_size_of_a_target_shows_what_its_slim_presets_and_slim_would_remove_after_the_guard_rails(
        real_env: EnvFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = real_env("basic")
    config = _target_project(tmp_path, env)
    config.write_text(config.read_text() + 'slim = ["bytecode"]\n')
    assert main(["size", "a:tar", "-c", str(config), "--slim", "docs,bytecode", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [s["rule"] for s in doc["savings"]] == ["bytecode", "docs"]
    bytecode = next(k for k in doc["kinds"] if k["name"] == "bytecode")
    assert doc["savings"][0]["files"] + len(doc["savings"][0]["kept"]) == bytecode["files"] > 0
    assert not (config.parent / ".condapack" / "memo" / "a.size.json").exists()  # read, not cached


def test_size_of_an_unknown_target_suggests_one(real_env: EnvFactory, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    config = _target_project(tmp_path, real_env("basic"))
    assert main(["size", "a:tgz", "-c", str(config), "--json"]) == 0  # an alias of the format, as for build
    capsys.readouterr()
    assert main(["size", "a:zip", "-c", str(config)]) == 1
    assert capsys.readouterr().err == ("condapack: error: condapack.toml: no target 'a:zip' "
                                       "(targets: a:tar, a:tar.gz, a)\n")


def test_build_report_skips_targets_the_size_report_cannot_read(real_env: EnvFactory, tmp_path: Path) -> None:
    from condapack.project.build import build
    from condapack.project.config import load_project

    config = _target_project(tmp_path, real_env("basic"))
    config.write_text(config.read_text().replace('formats = ["tar", "tar.gz"]', 'formats = ["zip", "sh"]'))
    build(load_project(config), report=True)
    dist = config.parent / "dist"
    assert sorted(p.name for p in dist.glob("*.size.html")) == [
        f"{t.output.name}.size.html" for t in load_project(config).targets if t.format == "zip"]
