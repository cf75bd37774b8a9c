"""The tree signature: replaying the last walk's listings gives a fresh walk's digest, and sees every change.

Hand-made trees (no environment): the signature only looks at ``lstat`` and listings.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Iterator

import pytest

from condapack.project import signature
from condapack.project.listings import Listings
from condapack.project.signature import TreeSignature, tree_signature


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "env"
    for rel in ("conda-meta/a-1-0.json", "lib/pkg/mod.py", "lib/pkg/sub/data.txt", "bin/tool", "share/empty/"):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not rel.endswith("/"):
            path.write_text(rel)
    (root / "share" / "empty").mkdir(exist_ok=True)
    (root / "bin" / "link").symlink_to("tool")
    (root / "pkgs" / "cached").mkdir(parents=True)  # a base installation's package cache: not walked
    return root


@pytest.fixture(params=["alone", "helper-half", "helper-all"])
def helper(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Replays re-stated by this process alone, or half or all of them by a forked helper; yields its pids."""
    pids: list[int] = []
    if request.param != "alone":
        if not signature._CAN_FORK:
            pytest.skip("the helper forks (Linux only)")
        monkeypatch.setattr(signature, "_SHARE_FROM", 1)
        # A server another test started in this worker (a session fixture's thread) would
        # stop the helper forking; its child only stats and writes shared memory, so this
        # test may fork beside such a thread (the guard has its own test below).
        monkeypatch.setattr(signature, "_single_threaded", lambda: True)
        monkeypatch.setattr(signature, "_HELPER_SHARE", 0.5 if request.param == "helper-half" else 1.0)
        real_fork = os.fork

        def fork() -> int:
            pid = real_fork()
            if pid:
                pids.append(pid)
            return pid

        monkeypatch.setattr(os, "fork", fork)
    yield pids
    assert pids or request.param == "alone"  # the helper did take part
    for pid in pids:  # every helper was waited for: none is left running or a zombie
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def replayed(root: Path, earlier: TreeSignature) -> TreeSignature:
    """The signature taken with the listings ``earlier`` stored (through their file form)."""
    listings = Listings.from_bytes(earlier.listings.to_bytes())
    assert listings is not None
    return tree_signature(root, listings)


def count_listings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    listed: list[int] = []
    real = os.listdir

    def listdir(fd: int) -> list[str]:
        listed.append(fd)
        return real(fd)

    monkeypatch.setattr(os, "listdir", listdir)
    return listed


def test_replayed_listings_give_the_fresh_digest_and_list_only_the_top(tree: Path, helper: list[int],
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    first = tree_signature(tree)
    assert len(first.listings) == 7  # every directory but the top one and the ignored pkgs/
    listed = count_listings(monkeypatch)
    again = replayed(tree, first)
    assert again == first and len(listed) == 1
    assert again.listings.to_bytes() == first.listings.to_bytes()


@pytest.mark.parametrize("change", ["add", "remove", "rename", "replace-dir", "add-top", "same-size-edit"])
def test_every_change_changes_the_replayed_signature(tree: Path, change: str, helper: list[int]) -> None:
    first = tree_signature(tree)
    sub = tree / "lib" / "pkg" / "sub"
    if change == "add":
        (sub / "new.txt").write_text("new")
    elif change == "remove":
        (sub / "data.txt").unlink()
    elif change == "rename":
        (sub / "data.txt").rename(sub / "atad.txt")
    elif change == "replace-dir":
        sub.rename(tree / "old-sub")
        sub.mkdir()
        (tree / "old-sub" / "data.txt").rename(sub / "data.txt")
        (tree / "old-sub").rmdir()
    elif change == "add-top":
        (tree / "etc").mkdir()
    else:
        path = sub / "data.txt"
        st = path.stat()
        path.write_text(path.read_text().upper())
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = replayed(tree, first)
    assert after.digest != first.digest and after == tree_signature(tree)


def test_ignored_top_entries_change_nothing(tree: Path) -> None:
    first = tree_signature(tree)
    (tree / "pkgs" / "cached" / "pkg.tar.bz2").write_text("x")
    (tree / "notes.txt~").write_text("backup")
    assert replayed(tree, first) == first


def test_listings_of_another_tree_are_not_reused(tree: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    (other / "lib").mkdir(parents=True)
    (other / "lib" / "x.txt").write_text("x")
    assert tree_signature(tree, tree_signature(other).listings) == tree_signature(tree)


def test_a_directory_that_became_a_symlink_is_not_followed(tree: Path) -> None:
    first = tree_signature(tree)
    sub = tree / "lib" / "pkg" / "sub"
    sub.rename(tree / "moved")
    sub.symlink_to(tree / "moved")
    assert replayed(tree, first).digest != first.digest


@pytest.mark.parametrize("damage", [b"", b"condapack listings 1\n", b"condapack listings 1\n1 2\n",
                                    b"condapack listings 1\n-1 0\n", b"condapack listings 2\n0 0\n", b"\xff" * 64])
def test_damaged_listings_are_refused(damage: bytes) -> None:
    assert Listings.from_bytes(damage) is None


def test_truncated_listings_are_refused(tree: Path) -> None:
    data = tree_signature(tree).listings.to_bytes()
    assert Listings.from_bytes(data) is not None
    assert Listings.from_bytes(data[:-1]) is None
    assert Listings.from_bytes(data + b"x") is None


def test_windows_records_no_listings(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    posix = tree_signature(tree)
    monkeypatch.setattr(signature, "_STAT_AT", False)
    scanned = tree_signature(tree, posix.listings)
    assert scanned == posix and len(scanned.listings) == 0


def test_a_failed_helper_leaves_the_replay_to_this_process(tree: Path, helper: list[int],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    first = tree_signature(tree)

    def fail(*args: object) -> None:
        raise OSError("the helper could not re-stat")

    monkeypatch.setattr(signature, "_restat_into", fail)
    assert replayed(tree, first) == first
    (tree / "lib" / "pkg" / "sub" / "new.txt").write_text("new")
    assert replayed(tree, first) == tree_signature(tree) != first


def test_no_helper_is_forked_while_another_thread_runs(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = tree_signature(tree)
    monkeypatch.setattr(signature, "_SHARE_FROM", 1)

    def fork() -> int:
        raise AssertionError("forked beside a running thread")

    monkeypatch.setattr(os, "fork", fork)
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert replayed(tree, first) == first
    finally:
        release.set()
        other.join()


def test_small_trees_are_replayed_without_a_helper(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = tree_signature(tree)

    def fork() -> int:
        raise AssertionError("forked for a small tree")

    monkeypatch.setattr(os, "fork", fork)
    assert replayed(tree, first) == first


def test_a_fork_that_fails_leaves_the_replay_to_this_process(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = tree_signature(tree)
    monkeypatch.setattr(signature, "_SHARE_FROM", 1)

    def fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", fork)
    assert replayed(tree, first) == first


NATIVE_POOL = """\
import os, sys
import zstandard
from condapack.project import signature

signature._SHARE_FROM, signature._HELPER_SHARE = 1, 1.0
forks = []
real_fork = os.fork
os.fork = lambda: forks.append(1) or real_fork()
compressor = zstandard.ZstdCompressor(threads=2)
compressor.compress(os.urandom(1 << 23))  # libzstd's worker threads now wait in this process
threads = len(os.listdir("/proc/self/task"))
fresh = signature.tree_signature(sys.argv[1])
replayed = signature.tree_signature(sys.argv[1], fresh.listings)
print(threads > 1, len(forks), replayed.digest == fresh.digest)
"""


def test_the_helper_forks_correctly_beside_a_native_thread_pool(tree: Path) -> None:
    """Native threads (libzstd's pool) are invisible to Python; the child, which only stats
    and writes shared memory, still finishes and the digest is a fresh walk's."""
    if not signature._CAN_FORK:
        pytest.skip("the helper forks (Linux only)")
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", NATIVE_POOL, str(tree)], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout == "True 1 True\n"
