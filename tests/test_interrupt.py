"""Kill tests: SIGINT, SIGTERM and SIGKILL at several points of pack, build and conda-unpack.

Afterwards no temporary file remains (after the next run, for SIGKILL, which nothing can
catch), every line of SHA256SUMS verifies, the lock describes the files on disk, and an
environment being relocated is either fully relocated or as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import envkit
from condapack.cli import main
from condapack.unpack.manifest import parse
from helpers import extract

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGKILL]
IDS = ["SIGINT", "SIGTERM", "SIGKILL"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, conda_channel: Path) -> Path:
    """A small real env: conda-unpack has text and binary files to relocate in it."""
    return envkit.create_env("nopython", tmp_path_factory.mktemp("kill") / "env", conda_channel)


@pytest.fixture(scope="module")
def big_env(env: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same env with 12 MiB of incompressible data: packing it takes long enough to be stopped."""
    prefix = tmp_path_factory.mktemp("kill-big") / "env"
    shutil.copytree(env, prefix, symlinks=True)
    (prefix / "share" / "big.bin").write_bytes(random.Random(9).randbytes(12 << 20))
    return prefix


def condapack(*argv: str, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "condapack", *argv], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[bytes]) -> int:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    return proc.returncode


def wait_for(predicate: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.005)


def kill(proc: subprocess.Popen[bytes], signum: int) -> None:
    if proc.poll() is None:
        proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err, err.decode()
    if signum != signal.SIGKILL and proc.returncode not in (0,):
        assert proc.returncode == 130, err.decode()


def temps(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith((".part", ".old", ".tmp")))


@pytest.mark.parametrize("signum", SIGNALS, ids=IDS)
def test_killed_pack_leaves_no_archive_and_no_temp_file(big_env: Path, tmp_path: Path, signum: int) -> None:
    out = tmp_path / "env.tar.gz"
    proc = condapack("pack", "-p", str(big_env), "-o", str(out), "-q", cwd=tmp_path)
    wait_for(lambda: temps(tmp_path) or proc.poll() is not None)
    kill(proc, signum)
    if proc.returncode != 0:
        assert not out.exists()
    if signum != signal.SIGKILL:
        assert temps(tmp_path) == []
    proc = condapack("pack", "-p", str(big_env), "-o", str(out), "-f", "-q", "--compress-level", "1", cwd=tmp_path)
    finish(proc)
    assert temps(tmp_path) == []
    assert subprocess.run(["gzip", "-t", str(out)]).returncode == 0


def make_project(env: Path, root: Path) -> Path:
    root.mkdir()
    config = root / "condapack.toml"
    config.write_text(f'[env.a]\nprefix = "{env}"\nformats = ["tar", "tar.gz"]\ncompress-level = 1\n'
                      f'[env.b]\nprefix = "{env}"\nformats = ["tar.zst"]\n')
    return config


def assert_consistent(config: Path) -> None:
    dist = config.parent / "dist"
    if (dist / "SHA256SUMS").exists():
        subprocess.run(["sha256sum", "--check", "--quiet", "--strict", "SHA256SUMS"], cwd=dist, check=True)
    lock_path = config.parent / "condapack.lock"
    if lock_path.exists():
        for name, entry in json.loads(lock_path.read_text())["targets"].items():
            if "sha256" in entry:
                data = (config.parent / entry["options"]["output"]).read_bytes()
                assert hashlib.sha256(data).hexdigest() == entry["sha256"], name


@pytest.mark.slow
@pytest.mark.parametrize("signum,point", [
    (signal.SIGINT, "first-temp"), (signal.SIGTERM, "second-archive"), (signal.SIGHUP, "later"),
    (signal.SIGKILL, "later"),
], ids=["SIGINT-first-temp", "SIGTERM-second-archive", "SIGHUP-later", "SIGKILL-later"])
def test_killed_build_leaves_sums_and_lock_consistent(big_env: Path, tmp_path: Path, signum: int,
                                                      point: str) -> None:
    env = big_env
    config = make_project(env, tmp_path / "proj")
    dist = config.parent / "dist"
    if point == "later":  # an earlier build's outputs are being replaced
        finish(condapack("build", "-q", cwd=config.parent))
        (env / "share" / f"kill-{os.getpid()}-{time.monotonic_ns()}.txt").write_text("changed\n")
    proc = condapack("build", "-q", "--force", cwd=config.parent)
    if point == "second-archive":
        wait_for(lambda: (dist / "a.tar").exists() or proc.poll() is not None)
    else:
        wait_for(lambda: (dist.is_dir() and temps(dist)) or proc.poll() is not None)
    kill(proc, signum)
    assert_consistent(config)
    if signum != signal.SIGKILL:
        assert temps(dist) == []
    finish(condapack("build", "-q", cwd=config.parent))
    assert temps(dist) == []
    assert_consistent(config)
    assert sorted(p.name for p in dist.iterdir()) == ["SHA256SUMS", "a.tar", "a.tar.gz", "b.tar.zst"]


@pytest.mark.slow
def test_a_fetch_killed_outright_leaves_nothing_after_the_rebuild(big_env: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    first = make_project(big_env, tmp_path / "first")
    finish(condapack("build", "-q", "--cache", cache.as_uri(), "--cache-write", cwd=first.parent))
    second = make_project(big_env, tmp_path / "second")  # the same inputs: everything is fetched
    dist = second.parent / "dist"
    proc = condapack("build", "-q", "--cache", cache.as_uri(), cwd=second.parent)
    wait_for(lambda: (dist.is_dir() and temps(dist)) or proc.poll() is not None)
    kill(proc, signal.SIGKILL)
    assert_consistent(second)
    finish(condapack("build", "-q", "--cache", cache.as_uri(), cwd=second.parent))
    assert temps(dist) == []
    assert_consistent(second)
    assert {p.name: p.read_bytes() for p in dist.iterdir()} == \
        {p.name: p.read_bytes() for p in (first.parent / "dist").iterdir()}


@pytest.mark.slow
@pytest.mark.parametrize("cached", [False, True], ids=["packing", "fetching"])
def test_two_builds_of_one_project_at_once_both_succeed_and_leave_true_records(
        big_env: Path, tmp_path: Path, cached: bool) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    flags = ("--cache", cache.as_uri()) if cached else ()
    if cached:  # another checkout filled the cache
        first = make_project(big_env, tmp_path / "first")
        finish(condapack("build", "-q", *flags, "--cache-write", cwd=first.parent))
    config = make_project(big_env, tmp_path / "proj")
    procs = [condapack("build", "-q", *flags, cwd=config.parent) for _ in range(2)]
    for proc in procs:
        finish(proc)
    dist = config.parent / "dist"
    assert temps(dist) == []
    assert_consistent(config)
    assert sorted(p.name for p in dist.iterdir()) == ["SHA256SUMS", "a.tar", "a.tar.gz", "b.tar.zst"]
    again = subprocess.run([sys.executable, "-m", "condapack", "build", "--json", *flags], cwd=config.parent,
                           capture_output=True, text=True, timeout=300)
    assert {t["status"] for t in json.loads(again.stdout)["targets"]} == {"up to date"}, again.stderr


@pytest.fixture(scope="module")
def archive(env: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kill-archive") / "env.tar"
    command = [sys.executable, "-m", "condapack", "pack", "-p", str(env), "-o", str(out), "-q"]
    assert subprocess.run(command).returncode == 0
    return out


def relocation_state(prefix: Path, old: str) -> str:
    """'old' or 'new' when every relocatable file agrees; anything else fails the test."""
    manifest = parse((prefix / "conda-meta/condapack/unpack.txt").read_bytes())
    states = set()
    for entry in manifest.entries:
        data = (prefix / entry.path).read_bytes()
        states.add("new" if str(prefix).encode() in data and old.encode() not in data else
                   "old" if old.encode() in data else "neither")
    recorded = "new" if (prefix / "conda-meta/condapack/prefix").read_text() == str(prefix) else "old"
    assert states - {"neither"} == {recorded}, (states, recorded)  # deactivate scripts name no prefix
    return recorded


@pytest.mark.parametrize("impl", ["python", "sh"])
@pytest.mark.parametrize("signum", SIGNALS, ids=IDS)
@pytest.mark.parametrize("delay", [0.0, 0.05])
def test_killed_conda_unpack_leaves_the_env_as_it_was_or_fully_relocated(
        env: Path, archive: Path, tmp_path: Path, signum: int, delay: float, impl: str) -> None:
    prefix = extract(archive, tmp_path / "moved" / "env")
    flags = ["--sh"] if impl == "sh" else []
    proc = subprocess.Popen([str(prefix / "bin" / "conda-unpack"), *flags], stderr=subprocess.PIPE,
                            env={"PATH": "/usr/bin:/bin"})
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err, err.decode()
    leftovers = sorted(p.name for p in prefix.rglob("*.condapack-unpack"))
    if signum != signal.SIGKILL:
        assert leftovers == []
        relocation_state(prefix, str(env))
    result = subprocess.run([str(prefix / "bin" / "conda-unpack"), *flags], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert relocation_state(prefix, str(env)) == "new"
    assert sorted(p.name for p in prefix.rglob("*.condapack-unpack")) == []
    assert not (prefix / "conda-meta/condapack/unpack.mutex").exists()


def test_the_records_temporaries_a_killed_build_left_are_removed_by_the_next_build(tmp_path: Path,
                                                                                   tiny_env: Path) -> None:
    """SIGKILL while the lock, the state, SHA256SUMS or a memo is written leaves its temporary."""
    config = tmp_path / "proj" / "condapack.toml"
    config.parent.mkdir()
    config.write_text(f'[env.tiny]\nprefix = "{tiny_env}"\nformats = ["tar"]\n')
    assert main(["build", "-q", "-c", str(config)]) == 0
    root = config.parent
    left = [root / ".condapack.lock.0123abcd.tmp", root / ".condapack" / ".state.json.0123abcd.tmp",
            root / "dist" / ".SHA256SUMS.0123abcd.tmp", root / ".condapack" / "memo" / ".tiny.json.89abcdef.tmp",
            root / ".condapack" / "memo" / ".tiny.listings.0123abcd.tmp"]
    for path in left:
        path.write_bytes(b"half written")
    (root / ".notes.0123abcd.tmp").write_text("not condapack's")
    assert main(["build", "-q", "-c", str(config)]) == 0  # nothing to build: the records are still checked
    assert [p for p in left if p.exists()] == []
    assert (root / ".notes.0123abcd.tmp").exists()
