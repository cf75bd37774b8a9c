"""Every format: read back with standard tools, relocatable, and byte-reproducible."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Callable

import pytest

import condapack
import envkit
from condapack.cli import conda_pack_main
from envkit import EnvFactory
from helpers import assert_works_at, extract, files_mentioning, pack, run, shared_path

TAR_FORMATS = ["tar", "tar.gz", "tar.bz2", "tar.xz", "tar.zst"]
ALL_FORMATS = [*TAR_FORMATS, "zip", "squashfs", "no-archive"]


def sha256(path: Path) -> str:
    if path.is_dir():
        digest = hashlib.sha256()
        for p in sorted(path.rglob("*")):
            digest.update(p.relative_to(path).as_posix().encode())
            st = p.lstat()
            digest.update(f"{stat.S_IMODE(st.st_mode)}:{int(st.st_mtime)}".encode())
            digest.update(os.readlink(p).encode() if p.is_symlink() else p.read_bytes() if p.is_file() else b"d")
        return digest.hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def out_name(fmt: str) -> str:
    return "env" if fmt == "no-archive" else f"env.{fmt}"


@pytest.fixture(scope="module")
def basic_env(shared_env: EnvFactory) -> Path:
    """The run's shared basic env: this module's tests only read it."""
    return shared_env("basic")


#: ``packed(fmt, threads)``: the module's environment packed in ``fmt`` with ``-j threads``.
Packed = Callable[[str, int], Path]


@pytest.fixture(scope="module")
def packed(basic_env: Path, tmp_path_factory: pytest.TempPathFactory) -> Packed:
    """Each (format, thread count) packed once (across xdist workers) for the tests that only read it."""

    def get(fmt: str, threads: int) -> Path:
        directory = shared_path(tmp_path_factory, f"fmt/packed-{fmt}-j{threads}", lambda path: pack(
            basic_env, path / out_name(fmt), "--format", fmt, "-j", str(threads), "-f"))
        return directory / out_name(fmt)

    return get


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_each_format_unpacks_with_standard_tools_and_relocates(basic_env: Path, packed: Packed, tmp_path: Path,
                                                              fmt: str) -> None:
    archive = packed(fmt, 2)
    prefix = extract(archive, tmp_path / "unpacked" / "at-a-new-place")
    run([str(prefix / "bin/conda-unpack")])
    assert_works_at(prefix, str(basic_env))


@pytest.mark.parametrize("fmt", ["tar", "tar.gz", "tar.bz2", "tar.xz"])
def test_python_tarfile_reads_the_tar_formats(packed: Packed, fmt: str) -> None:
    with tarfile.open(packed(fmt, 1)) as tf:
        members = tf.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, "", "")}
    assert {m.mtime for m in members} == {condapack.members.DEFAULT_MTIME}


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_thread_count_does_not_change_the_bytes(packed: Packed, fmt: str) -> None:
    assert sha256(packed(fmt, 1)) == sha256(packed(fmt, 2))


@pytest.mark.parametrize("fmt", ["tar.gz", "zip", "tar.zst"])
def test_mtimes_owners_umask_and_time_zone_do_not_change_the_bytes(
        real_env: EnvFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    env = real_env("basic")
    pack(env, tmp_path / "a" / out_name(fmt), "-f")
    for path in env.rglob("*"):
        if not path.is_symlink():
            os.utime(path, (2_000_000_000, 2_000_000_000))
    monkeypatch.setenv("TZ", "Asia/Kathmandu")
    old_umask = os.umask(0o077)
    try:
        pack(env, tmp_path / "b" / out_name(fmt), "-f")
    finally:
        os.umask(old_umask)
    assert sha256(tmp_path / "a" / out_name(fmt)) == sha256(tmp_path / "b" / out_name(fmt))


def test_hard_links_in_the_environment_give_a_valid_identical_archive(real_env: EnvFactory, tmp_path: Path) -> None:
    env = real_env("basic")
    source = env / envkit.DATA_FILE
    twin = env / "share" / "twin.txt"
    shutil.copy(source, twin)
    pack(env, tmp_path / "copies.tar.gz")
    twin.unlink()
    os.link(source, twin)
    pack(env, tmp_path / "linked.tar.gz")
    assert sha256(tmp_path / "copies.tar.gz") == sha256(tmp_path / "linked.tar.gz")
    prefix = extract(tmp_path / "linked.tar.gz", tmp_path / "x")
    assert (prefix / "share/twin.txt").read_text() == source.read_text()


def test_source_date_epoch_sets_every_mtime(basic_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    pack(basic_env, tmp_path / "env.tar")
    with tarfile.open(tmp_path / "env.tar") as tf:
        assert {m.mtime for m in tf.getmembers()} == {1700000000}


def test_timestamps_before_1980_are_clamped_in_zip_only(basic_env: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    pack(basic_env, tmp_path / "env.zip")
    pack(basic_env, tmp_path / "env.tar")
    with zipfile.ZipFile(tmp_path / "env.zip") as zf:
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert zf.testzip() is None
    with tarfile.open(tmp_path / "env.tar") as tf:
        assert {m.mtime for m in tf.getmembers()} == {0}


def test_timestamp_pyc_files_stay_valid_after_unpacking(real_env: EnvFactory, tmp_path: Path) -> None:
    env = real_env("basic")
    source = env / envkit.SITE_PACKAGES / "stamped.py"
    source.write_text("VALUE = 1\n")
    # Timestamp-based, py_compile's default when SOURCE_DATE_EPOCH is not set.
    run([str(env / envkit.PYTHON_BIN), "-m", "py_compile", str(source)])
    pack(env, tmp_path / "env.tar.gz")
    prefix = extract(tmp_path / "env.tar.gz", tmp_path / "p")
    unpacked = prefix / envkit.SITE_PACKAGES / "stamped.py"
    cached = next((unpacked.parent / "__pycache__").glob("stamped.*.pyc"))
    header = cached.read_bytes()[:16]
    assert int.from_bytes(header[4:8], "little") == 0
    assert int.from_bytes(header[8:12], "little") == int(unpacked.stat().st_mtime)
    assert int.from_bytes(header[12:16], "little") == unpacked.stat().st_size
    before = cached.read_bytes()
    run([str(prefix / envkit.PYTHON_BIN), "-c", "import stamped"])
    assert cached.read_bytes() == before


def test_zip_compresses_every_member_including_rewritten_ones(basic_env: Path, tmp_path: Path) -> None:
    pack(basic_env, tmp_path / "env.zip", "-d", "/opt/final/env")
    with zipfile.ZipFile(tmp_path / "env.zip") as zf:
        files = [i for i in zf.infolist() if not i.is_dir() and i.file_size > 0]
        assert {i.compress_type for i in files} == {zipfile.ZIP_DEFLATED}
        assert zf.read(envkit.CONF_FILE).decode().count("/opt/final/env") >= 1
        assert zf.testzip() is None
    out = subprocess.run(["unzip", "-tq", str(tmp_path / "env.zip")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


def test_zip_symlinks_are_stored_as_links_when_asked(basic_env: Path, tmp_path: Path) -> None:
    pack(basic_env, tmp_path / "env.zip", "--zip-symlinks")
    with zipfile.ZipFile(tmp_path / "env.zip") as zf:
        info = zf.getinfo(envkit.FILE_SYMLINK)
        assert stat.S_ISLNK(info.external_attr >> 16)
        assert zf.read(info) == envkit.FILE_SYMLINK_TARGET.encode()
    prefix = extract(tmp_path / "env.zip", tmp_path / "z")
    assert os.readlink(prefix / envkit.FILE_SYMLINK) == envkit.FILE_SYMLINK_TARGET


@pytest.mark.slow
def test_no_zip_64_refuses_an_archive_that_needs_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prefix = tmp_path / "many"
    (prefix / "conda-meta").mkdir(parents=True)
    many = prefix / "share" / "many"
    many.mkdir(parents=True)
    for i in range(66_000):
        (many / f"f{i}").touch()
    assert conda_pack_main(["-p", str(prefix), "-o", str(tmp_path / "m.zip"), "--no-zip-64", "-q"]) == 1
    refusal = capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["many"]
    assert conda_pack_main(["-p", str(prefix), "-o", str(tmp_path / "m.zip"), "-q"]) == 0
    with zipfile.ZipFile(tmp_path / "m.zip") as zf:
        members = len(zf.infolist())
    assert members > 66_000  # the files, their directories and conda-unpack's payload
    assert refusal == f"CondaPackError: the zip archive needs ZIP64 extensions ({members} members); drop --no-zip-64\n"


def test_zstd_levels_up_to_22_and_smaller_at_higher_levels(basic_env: Path, tmp_path: Path) -> None:
    pack(basic_env, tmp_path / "fast.tar.zst", "--compress-level", "1")
    pack(basic_env, tmp_path / "small.tar.zst", "--compress-level", "19", "-j", "2")
    assert (tmp_path / "small.tar.zst").stat().st_size < (tmp_path / "fast.tar.zst").stat().st_size


def test_parcel_has_metadata_and_is_rewritten_for_its_destination(basic_env: Path, tmp_path: Path) -> None:
    assert conda_pack_main(["-p", str(basic_env), "--format", "parcel", "-o", str(tmp_path / "x.parcel"), "-q",
                            "--parcel-name", "demo", "--parcel-version", "1.2", "--parcel-root",
                            str(tmp_path / "parcels")]) == 0
    with tarfile.open(tmp_path / "x.parcel") as tf:
        names = tf.getnames()
        meta = json.loads(tf.extractfile("demo-1.2/meta/parcel.json").read())  # type: ignore[union-attr]
    assert all(n.startswith("demo-1.2/") for n in names)
    assert "demo-1.2/bin/conda-unpack" not in names
    assert "demo-1.2/meta/conda_env.sh" in names
    assert meta["name"] == "demo" and meta["version"] == "1.2"
    assert {"name": "cpdemo-tools", "version": "1.0-" + meta["packages"][1]["version"].split("-", 1)[1]} \
        in meta["packages"]
    extract(tmp_path / "x.parcel", tmp_path / "parcels")
    assert run([str(tmp_path / "parcels/demo-1.2" / envkit.C_PROGRAM)]) == f"{tmp_path}/parcels/demo-1.2\n" * 2


def test_parcel_name_with_dashes_is_refused(basic_env: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert conda_pack_main(["-p", str(basic_env), "-o", str(tmp_path / "x.parcel")]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "CondaPackError: parcel name 'env-basic' may not be empty or contain dashes; "
        "pass --parcel-name with another value")


def test_no_archive_copies_and_never_links_into_the_environment(real_env: EnvFactory, tmp_path: Path) -> None:
    env = real_env("basic")
    before = sha256(env)
    out = tmp_path / "out"
    pack(env, out, "--format", "no-archive")
    program = out / envkit.C_PROGRAM
    assert program.stat().st_nlink == 1
    assert program.stat().st_ino != (env / envkit.C_PROGRAM).stat().st_ino
    run([str(out / "bin/conda-unpack")])
    assert_works_at(out, str(env))
    assert sha256(env) == before


def test_squashfs_without_mksquashfs_names_the_package(basic_env: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert conda_pack_main(["-p", str(basic_env), "-o", str(tmp_path / "e.squashfs"), "-q"]) == 1
    assert capsys.readouterr().err == (
        "CondaPackError: format squashfs needs the mksquashfs command; install squashfs-tools "
        "(e.g. apt-get install squashfs-tools) or choose another format\n")
    assert os.listdir(tmp_path) == []


def test_failing_compressor_leaves_nothing_behind(basic_env: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from condapack.archive import codec, sink

    def broken(level: int) -> codec.Job:
        def job(block: bytes, previous: bytes, last: bool) -> bytes:
            raise MemoryError("compressor died")
        return job

    monkeypatch.setattr(sink, "gzip_block_job", broken)
    with pytest.raises(MemoryError, match="compressor died"):
        condapack.pack(prefix=str(basic_env), output=str(tmp_path / "env.tar.gz"), n_threads=2)
    assert os.listdir(tmp_path) == []


def test_disk_full_is_a_one_line_error_and_leaves_nothing(basic_env: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from condapack.archive import sink

    def full(self: sink.RawSink, data: bytes) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(sink.RawSink, "write", full)
    assert conda_pack_main(["-p", str(basic_env), "-o", str(tmp_path / "env.tar"), "-q"]) == 1
    assert capsys.readouterr().err == (
        f"CondaPackError: cannot write {tmp_path / 'env.tar'}: No space left on device; free some space "
        "or choose another --output\n")
    assert os.listdir(tmp_path) == []


@pytest.mark.serial
def test_interrupt_leaves_no_partial_archive(real_env: EnvFactory, tmp_path: Path) -> None:
    env = real_env("basic")
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "condapack", "pack", "-p", str(env),
                             "-o", str(out / "env.tar.xz"), "--compress-level", "9"],
                            stderr=subprocess.PIPE, text=True)
    deadline = 100
    while not any(out.iterdir()) and deadline:
        deadline -= 1
        subprocess.run(["sleep", "0.05"])
    seen = [p.name for p in out.iterdir()]
    assert len(seen) == 1 and seen[0].startswith(".env.tar.xz.") and seen[0].endswith(".part"), seen
    proc.send_signal(2)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.splitlines()[-1] == "condapack: interrupted"
    assert os.listdir(out) == []


def test_archive_gets_normal_permissions(basic_env: Path, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        pack(basic_env, tmp_path / "env.tar")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "env.tar").stat().st_mode) == 0o644


def test_no_file_mentions_the_old_prefix_after_unpacking_a_tar_zst(basic_env: Path, tmp_path: Path) -> None:
    pack(basic_env, tmp_path / "env.tar.zst")
    prefix = extract(tmp_path / "env.tar.zst", tmp_path / "t")
    run([str(prefix / "bin/conda-unpack")])
    assert [p for p in files_mentioning(prefix, str(basic_env)) if not p.endswith(".pyc")] == []
