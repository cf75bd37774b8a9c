"""Fingerprints through the memo: a no-op reads nothing, and no change is ever missed.

The tree signature lets a no-op fingerprint skip the records and every file; each test
changes the environment in one way the signature must see (a same-size edit with the old
mtime, a record rewritten, a file added or removed) and checks the fingerprint follows,
on a real environment. ``RACY_NS`` is 0 so the just-made environment's tree is trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import pytest

import envkit
from condapack import prefix
from condapack.project import fingerprint, memo, signature
from condapack.project.fingerprint import EnvFingerprint, fingerprint_env
from condapack.project.memo import Memo

SHARE = "share/notes.txt"


@pytest.fixture
def env(conda_channel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(memo, "RACY_NS", 0)
    prefix = envkit.create_env("nopython", tmp_path / "env", conda_channel)
    (prefix / SHARE).write_text("unmanaged notes\n")
    return prefix


def fresh(prefix: Path, tmp_path: Path) -> EnvFingerprint:
    """Fingerprint with the memo of earlier calls, and save it as a build does."""
    earlier = Memo(tmp_path / "memo" / "env.json")
    result = fingerprint_env(prefix, earlier)
    earlier.save()
    return result


def uncached(prefix: Path) -> EnvFingerprint:
    return fingerprint_env(prefix, Memo(None))


def forbid_scanning(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: object) -> None:
        raise AssertionError("the records were read")

    monkeypatch.setattr(prefix, "read_records", fail)  # what read_prefix, the one read, calls


def test_unchanged_environment_reuses_its_fingerprint_without_reading_a_record(
        env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = fresh(env, tmp_path)
    assert (tmp_path / "memo" / "env.tree.json").is_file()
    forbid_scanning(monkeypatch)
    assert fresh(env, tmp_path) == first


def test_same_size_edit_with_the_old_mtime_changes_the_fingerprint(env: Path, tmp_path: Path) -> None:
    before = fresh(env, tmp_path)
    path = env / SHARE
    st = path.stat()
    path.write_text("UNMANAGED notes\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = fresh(env, tmp_path)
    assert after != before and after == uncached(env)


def test_rewritten_record_changes_the_fingerprint(env: Path, tmp_path: Path) -> None:
    before = fresh(env, tmp_path)
    record = next((env / "conda-meta").glob("cpdemo-tools-*.json"))
    st = record.stat()
    data = record.read_bytes()
    at = data.index(b'"sha256": "') + len(b'"sha256": "')
    record.write_bytes(data[:at] + (b"0" if data[at:at + 1] != b"0" else b"1") + data[at + 1:])
    os.utime(record, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = fresh(env, tmp_path)
    assert after.packages != before.packages and after == uncached(env)


def test_added_and_removed_files_change_the_fingerprint(env: Path, tmp_path: Path) -> None:
    before = fresh(env, tmp_path)
    (env / "share" / "added.txt").write_text("new\n")
    added = fresh(env, tmp_path)
    assert added.files_count == before.files_count + 1 and added == uncached(env)
    (env / "share" / "added.txt").unlink()
    (env / SHARE).unlink()
    removed = fresh(env, tmp_path)
    assert removed.files_count == before.files_count - 1 and removed == uncached(env)


def test_renamed_file_changes_the_fingerprint_though_listings_are_replayed(env: Path, tmp_path: Path) -> None:
    before = fresh(env, tmp_path)
    assert fresh(env, tmp_path) == before and (tmp_path / "memo" / "env.listings").is_file()
    (env / SHARE).rename(env / "share" / "renamed.txt")
    after = fresh(env, tmp_path)
    assert after != before and after.files_count == before.files_count and after == uncached(env)


def test_edited_managed_file_changes_the_fingerprint(env: Path, tmp_path: Path) -> None:
    before = fresh(env, tmp_path)
    record = json.loads(next((env / "conda-meta").glob("cpdemo-tools-*.json")).read_text())
    managed = env / record["files"][0]
    managed.write_bytes(managed.read_bytes() + b"\n# edited\n")
    after = fresh(env, tmp_path)
    assert after != before and after == uncached(env)


def test_a_tree_changed_just_before_the_scan_is_not_trusted(env: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memo, "RACY_NS", memo.RACY_NS + 60_000_000_000)
    fresh(env, tmp_path)
    assert not (tmp_path / "memo" / "env.tree.json").exists()


@pytest.mark.parametrize("damage", [b"", b"{", b"[" * 100_000, b"[1, 2]", b"\xff\xfe"])
def test_damaged_tree_memo_warns_once_and_rescans(env: Path, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture, damage: bytes) -> None:
    first = fresh(env, tmp_path)
    tree = tmp_path / "memo" / "env.tree.json"
    tree.write_bytes(damage)
    with caplog.at_level(logging.WARNING, logger="condapack"):
        assert fresh(env, tmp_path) == first
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and messages[0].startswith(f"{tree}: damaged memo ("), messages
    assert messages[0].endswith("; rescanning the environment (it is rewritten after this run)")


def test_hostile_fingerprint_with_the_right_signature_warns_and_rescans(
        env: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = fresh(env, tmp_path)
    tree = tmp_path / "memo" / "env.tree.json"
    doc = tree.read_text().replace('"files_count":', '"files_count":"1e999999",' + '"x":')
    tree.write_text(doc)
    with caplog.at_level(logging.WARNING, logger="condapack"):
        assert fresh(env, tmp_path) == first
    assert [r.getMessage() for r in caplog.records] == [
        f"{tree}: damaged memo (no valid fingerprint); rescanning the environment "
        "(it is rewritten after this run)"]


@pytest.mark.parametrize("package", [{}, {"name": "x"}, {"name": "x", "version": "1", "build": "0", "channel": "c",
                                                 "sha256": "", "extra": "y"}])
def test_a_cached_package_without_exactly_the_identity_keys_is_not_a_fingerprint(package: dict[str, str]) -> None:
    doc = {"packages": [package], "files_count": 0, "files_digest": ""}
    assert EnvFingerprint.from_doc(doc) is None


@pytest.mark.parametrize("count", [0, 1, 4096, 9000])
def test_streamed_files_digest_is_the_digest_of_the_whole_list(count: int) -> None:
    files = [(f"lib/é{i}\"\\.py", f"x:{i:064x}") for i in range(count)]
    streamed = fingerprint._ListDigest()
    for path, digest in files:
        streamed.add(path, digest)
    whole = hashlib.sha256(json.dumps({"files": files}, sort_keys=True).encode()).hexdigest()
    assert (streamed.count, streamed.hexdigest()) == (count, whole)


def test_scandir_signature_of_windows_is_the_one_of_fstatat(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    posix = signature.tree_signature(env)
    monkeypatch.setattr(signature, "_STAT_AT", False)
    assert signature.tree_signature(env) == posix
