"""End to end on real environments: pack, unpack elsewhere, conda-unpack, run, move again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

import envkit
from condapack.cli import conda_pack_main
from envkit import EnvFactory
from helpers import (
    assert_activation_works,
    assert_works_after_moving_again,
    assert_works_at,
    extract,
    files_mentioning,
    minimal_host,
    pack,
    run,
)


@pytest.mark.parametrize("where", ["short", "long"])
def test_unpacked_env_works_at_a_new_location_and_after_moving_again(
        shared_env: EnvFactory, tmp_path: Path, where: str) -> None:
    env = shared_env("basic")
    archive = tmp_path / "env.tar.gz"
    pack(env, archive)
    name = "e" if where == "short" else "a-much-longer-directory-name-" * 3
    prefix = extract(archive, tmp_path / name)
    assert len(str(prefix)) != len(str(env))
    run([str(prefix / "bin/conda-unpack")])
    assert_works_at(prefix, str(env))
    assert_activation_works(assert_works_after_moving_again(prefix, tmp_path), "bash")


def test_entry_points_work_without_activation_and_with_a_too_long_shebang(
        shared_env: EnvFactory, tmp_path: Path) -> None:
    env = shared_env("basic")
    archive = tmp_path / "env.tar"
    pack(env, archive)
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    prefix = extract(archive, deep)
    run([str(prefix / "bin/conda-unpack")])
    head = (prefix / envkit.ENTRY_POINT).read_bytes().split(b"\n", 1)[0]
    assert head == b"#!/bin/sh"
    assert run([str(prefix / envkit.ENTRY_POINT)]).splitlines()[0] == str(prefix)


def test_conda_unpack_twice_in_place_is_a_no_op(shared_env: EnvFactory, tmp_path: Path) -> None:
    env = shared_env("basic")
    pack(env, tmp_path / "env.tar")
    prefix = extract(tmp_path / "env.tar", tmp_path / "x")
    run([str(prefix / "bin/conda-unpack")])
    snapshot = {p: p.read_bytes() for p in prefix.rglob("*") if p.is_file() and not p.is_symlink()}
    result = subprocess.run([str(prefix / "bin/conda-unpack")], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stderr == f"conda-unpack: {prefix} is already set up for this location\n"
    assert {p: p.read_bytes() for p in snapshot} == snapshot


def test_dest_prefix_rewrites_at_pack_time_and_ships_no_conda_unpack(
        shared_env: EnvFactory, tmp_path: Path) -> None:
    env = shared_env("basic")
    final = tmp_path / "final" / "location"
    pack(env, tmp_path / "env.tar.gz", "--dest-prefix", str(final))
    with tarfile.open(tmp_path / "env.tar.gz") as tf:
        names = tf.getnames()
    assert "bin/conda-unpack" not in names
    assert "bin/activate" in names
    prefix = extract(tmp_path / "env.tar.gz", final)
    assert_works_at(prefix, str(env))
    assert_activation_works(prefix, "dash")


def test_zip_archive_unpacks_and_relocates(shared_env: EnvFactory, tmp_path: Path) -> None:
    env = shared_env("basic")
    pack(env, tmp_path / "env.zip")
    prefix = extract(tmp_path / "env.zip", tmp_path / "z")
    run([str(prefix / "bin/conda-unpack")])
    assert_works_at(prefix, str(env))


def test_env_without_python_is_unpacked_with_the_host_python(shared_env: EnvFactory, tmp_path: Path) -> None:
    env = shared_env("nopython")
    pack(env, tmp_path / "env.tgz")
    prefix = extract(tmp_path / "env.tgz", tmp_path / "np")
    assert not (prefix / "bin/python").exists()
    run([str(prefix / "bin/conda-unpack")])
    assert run([str(prefix / envkit.C_PROGRAM)]) == f"{prefix}\n{prefix}\n"
    assert files_mentioning(prefix, str(env)) == []


def test_env_with_conda_keeps_one_working_activate(shared_env: EnvFactory, tmp_path: Path) -> None:
    env = shared_env("has_conda")
    pack(env, tmp_path / "env.tar")
    with tarfile.open(tmp_path / "env.tar") as tf:
        names = tf.getnames()
    assert len(names) == len(set(names))
    assert names.count("bin/activate") == 1
    prefix = extract(tmp_path / "env.tar", tmp_path / "c")
    run([str(prefix / "bin/conda-unpack")])
    assert_activation_works(prefix, "bash")


@pytest.mark.parametrize("scenario", ["no_history", "uncached"])
def test_envs_without_history_or_package_cache_relocate(
        shared_env: EnvFactory, tmp_path: Path, scenario: str) -> None:
    env = shared_env(scenario)
    pack(env, tmp_path / "env.tar.gz")
    prefix = extract(tmp_path / "env.tar.gz", tmp_path / "u")
    run([str(prefix / "bin/conda-unpack")])
    assert_works_at(prefix, str(env))


def test_pip_installed_files_are_packed_and_relocated(shared_env: EnvFactory, tmp_path: Path) -> None:
    env = shared_env("pip_unmanaged")
    pack(env, tmp_path / "env.tar.gz")
    prefix = extract(tmp_path / "env.tar.gz", tmp_path / "p")
    run([str(prefix / "bin/conda-unpack")])
    assert run([str(prefix / envkit.PIP_SCRIPT)]) == f"{prefix}\n"
    assert_works_at(prefix, str(env))


def test_clobbered_file_is_packed_as_it_is_now_with_a_warning(
        shared_env: EnvFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = shared_env("clobbered")
    assert conda_pack_main(["-p", str(env), "-o", str(tmp_path / "env.tar")]) == 0
    err = capsys.readouterr().err
    assert f"conda-pack: warning: 1 files managed by conda were modified after install ({envkit.CLOBBERED_FILE})" in err
    prefix = extract(tmp_path / "env.tar", tmp_path / "cl")
    assert (prefix / envkit.CLOBBERED_FILE).read_text() == envkit.CLOBBERED_CONTENT


def test_packing_needs_no_package_cache(shared_env: EnvFactory, tmp_path: Path) -> None:
    env = shared_env("uncached")
    pack(env, tmp_path / "a.tar")
    with tarfile.open(tmp_path / "a.tar") as tf:
        assert envkit.C_PROGRAM in tf.getnames()


def test_same_environment_packs_to_identical_bytes_after_touching_every_file(
        real_env: EnvFactory, tmp_path: Path) -> None:
    env = real_env("basic")
    pack(env, tmp_path / "one.tar.gz")
    for path in env.rglob("*"):
        if not path.is_symlink():
            os.utime(path, (1_000_000, 1_000_000))
    pack(env, tmp_path / "two.tar.gz")
    assert (tmp_path / "one.tar.gz").read_bytes() == (tmp_path / "two.tar.gz").read_bytes()


def test_archive_holds_what_conda_pack_would_pack(shared_env: EnvFactory, tmp_path: Path) -> None:
    env = shared_env("basic")
    pack(env, tmp_path / "ours.tar")
    with tarfile.open(tmp_path / "ours.tar") as tf:
        ours = {m.name for m in tf.getmembers() if not m.isdir()}
    conda_pack = pytest.importorskip("conda_pack")
    conda_pack.pack(prefix=str(env), output=str(tmp_path / "ref.tar"), verbose=False)
    with tarfile.open(tmp_path / "ref.tar") as tf:
        reference = {m.name for m in tf.getmembers() if not m.isdir()}
    # Both ship bin/activate, bin/deactivate, bin/activate.fish and bin/conda-unpack; the
    # rest is each tool's own machinery for conda-unpack.
    ours_only = {n for n in ours if n.startswith("conda-meta/condapack/")} | {"bin/deactivate.fish"}
    assert ours - ours_only == reference - {"bin/conda_unpack_progress.py"}


def test_records_without_path_data_or_cache_are_sniffed_with_a_warning(
        real_env: EnvFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = real_env("uncached")
    record_path = next((env / "conda-meta").glob("cpdemo-tools-*.json"))
    record = json.loads(record_path.read_text())
    del record["paths_data"]
    record_path.write_text(json.dumps(record))
    assert conda_pack_main(["-p", str(env), "-o", str(tmp_path / "env.tar")]) == 0
    assert ("conda-pack: warning: 1 packages have no path data in conda-meta and no package cache entry "
            "(cpdemo-tools 1.0); their files were checked for the prefix by content instead") in capsys.readouterr().err
    prefix = extract(tmp_path / "env.tar", tmp_path / "sniffed")
    run([str(prefix / "bin/conda-unpack")])
    assert run([str(prefix / envkit.C_PROGRAM)]) == f"{prefix}\n{prefix}\n"
    assert files_mentioning(prefix, str(env)) == []


def _busybox_unpack(prefix: Path, busybox: Path) -> str:
    """conda-unpack on a host whose PATH holds only busybox applets (env -i, no python)."""
    result = subprocess.run(["env", "-i", f"PATH={busybox}", str(busybox / "sh"), str(prefix / "bin/conda-unpack")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_nopython_env_relocates_with_busybox_only_and_again_after_a_move(
        shared_env: EnvFactory, tmp_path: Path) -> None:
    env = shared_env("nopython")
    busybox = minimal_host(tmp_path / "busybox")
    pack(env, tmp_path / "env.tar.gz")
    prefix = tmp_path / "unpacked here"
    prefix.mkdir()
    subprocess.run(["env", "-i", f"PATH={busybox}", "tar", "-xzf", str(tmp_path / "env.tar.gz"), "-C", str(prefix)],
                   check=True)
    assert _busybox_unpack(prefix, busybox) == f"conda-unpack: relocated 7 files to {prefix}\n"
    assert run([str(prefix / envkit.C_PROGRAM)]) == f"{prefix}\n{prefix}\n"
    for text in (envkit.CONF_FILE, envkit.PKGCONFIG_FILE, envkit.SHELL_SCRIPT):
        assert str(prefix) in (prefix / text).read_text()
    assert files_mentioning(prefix, str(env)) == []
    moved = tmp_path / "moved" / ("m" * 80)
    moved.parent.mkdir()
    prefix.rename(moved)
    _busybox_unpack(moved, busybox)
    assert run([str(moved / envkit.C_PROGRAM)]) == f"{moved}\n{moved}\n"
    assert run([str(moved / envkit.SHELL_SCRIPT)]).splitlines()[0] == f"{moved}/share/cpdemo-1.0"
    assert files_mentioning(moved, str(prefix)) == []


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): os.readlink(p).encode() if p.is_symlink() else p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_symlink() or p.is_file()}


@pytest.mark.parametrize("where", ["short", "long"])
def test_shell_and_python_conda_unpack_give_identical_bytes_also_after_a_move(
        shared_env: EnvFactory, tmp_path: Path, where: str) -> None:
    env = shared_env("basic")
    pack(env, tmp_path / "env.tar")
    first = tmp_path / ("e" if where == "short" else "l" * 120)
    second = tmp_path / "again" / ("f" if where == "long" else "g" * 120)
    second.parent.mkdir()
    trees = {}
    for how in ("python", "sh"):
        flags = ["--sh"] if how == "sh" else []
        extract(tmp_path / "env.tar", first)
        run([str(first / "bin/conda-unpack"), *flags])
        first.rename(second)
        run([str(second / "bin/conda-unpack"), *flags])
        trees[how] = _tree(second)
        shutil.rmtree(second)
    assert trees["sh"] == trees["python"]
    # Short -> long turns the entry point's #! line into the /bin/sh trampoline; long ->
    # short turns it back.
    head = trees["sh"][envkit.ENTRY_POINT].split(b"\n", 1)[0]
    assert head == (b"#!/bin/sh" if where == "short" else f"#!{second}/bin/python{envkit.PY_SHORT}".encode())
