"""The memo: a digest is reused only while the file's stat is unchanged and was not racy.

Hand-made files (no environment); ``compute`` counts the files actually hashed.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from condapack.project.memo import RACY_NS, Memo
from condapack.project.signature import tree_signature


class Hasher:
    """A digest function that records what it hashed."""

    def __init__(self) -> None:
        self.hashed: list[str] = []

    def __call__(self, path: str) -> str:
        self.hashed.append(os.path.basename(path))
        return "sha:" + Path(path).read_text()


@pytest.fixture
def files(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    root.mkdir()
    for name in ("a.txt", "b.txt"):
        (root / name).write_text(name)
    return root


def scan(memo_file: Path, root: Path, hasher: Hasher, *, started_later_ns: int = 2 * RACY_NS,
         only: tuple[str, ...] = ()) -> dict[str, str]:
    """Digest the files of ``root`` (or ``only`` those) as one run does, 'started' ``started_later_ns`` from now."""
    memo = Memo(memo_file)
    memo.started_ns += started_later_ns
    paths = [p for p in sorted(root.iterdir()) if not only or p.name in only]
    digests = {p.name: memo.digest(p.name, str(p), os.lstat(p), hasher) for p in paths}
    memo.save()
    return digests


def test_unchanged_files_are_not_hashed_again(files: Path, tmp_path: Path) -> None:
    hasher = Hasher()
    first = scan(tmp_path / "c.json", files, hasher)
    assert scan(tmp_path / "c.json", files, hasher) == first == {"a.txt": "sha:a.txt", "b.txt": "sha:b.txt"}
    assert hasher.hashed == ["a.txt", "b.txt"]


def test_a_memo_written_in_batches_is_read_back_whole(tmp_path: Path) -> None:
    root = tmp_path / "many"
    root.mkdir()
    for index in range(5000):  # more than one batch of the entries file
        (root / f"f{index:04d}-\u00e9.txt").write_text(str(index))
    hasher = Hasher()
    first = scan(tmp_path / "c.json", root, hasher)
    assert scan(tmp_path / "c.json", root, hasher) == first and len(hasher.hashed) == 5000
    assert json.loads((tmp_path / "c.json").read_bytes())["entries"].keys() == first.keys()


def test_a_same_size_edit_with_the_old_mtime_is_hashed_again(files: Path, tmp_path: Path) -> None:
    hasher = Hasher()
    scan(tmp_path / "c.json", files, hasher)
    path = files / "a.txt"
    st = path.stat()
    path.write_text("A.TXT")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert scan(tmp_path / "c.json", files, hasher)["a.txt"] == "sha:A.TXT"
    assert hasher.hashed == ["a.txt", "b.txt", "a.txt"]


def test_a_file_replaced_by_another_is_hashed_again(files: Path, tmp_path: Path) -> None:
    hasher = Hasher()
    scan(tmp_path / "c.json", files, hasher)
    (files / "new").write_text("b.txt")
    st = (files / "b.txt").stat()
    os.replace(files / "new", files / "b.txt")
    os.utime(files / "b.txt", ns=(st.st_atime_ns, st.st_mtime_ns))
    scan(tmp_path / "c.json", files, hasher)
    assert hasher.hashed == ["a.txt", "b.txt", "b.txt"]


def test_files_changed_close_to_the_previous_scan_are_hashed_again(files: Path, tmp_path: Path) -> None:
    hasher = Hasher()
    scan(tmp_path / "c.json", files, hasher, started_later_ns=0)  # the files changed just before it started
    scan(tmp_path / "c.json", files, hasher)
    scan(tmp_path / "c.json", files, hasher)
    assert hasher.hashed == ["a.txt", "b.txt"] * 2


def test_entries_not_seen_by_a_run_are_forgotten(files: Path, tmp_path: Path) -> None:
    hasher = Hasher()
    scan(tmp_path / "c.json", files, hasher)
    scan(tmp_path / "c.json", files, hasher, only=("a.txt",))
    scan(tmp_path / "c.json", files, hasher)
    assert hasher.hashed == ["a.txt", "b.txt", "b.txt"]


def test_a_run_that_digests_nothing_leaves_the_memo_alone(files: Path, tmp_path: Path) -> None:
    scan(tmp_path / "c.json", files, Hasher())
    before = (tmp_path / "c.json").read_bytes()
    Memo(tmp_path / "c.json").save()
    assert (tmp_path / "c.json").read_bytes() == before


@pytest.mark.parametrize("damage", [b"", b"{", b"[]", b'{"version": 2, "entries": []}', b"\xff"])
def test_damaged_memo_warns_once_and_hashes_everything(files: Path, tmp_path: Path, damage: bytes,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    hasher = Hasher()
    (tmp_path / "c.json").write_bytes(damage)
    with caplog.at_level(logging.WARNING, logger="condapack"):
        scan(tmp_path / "c.json", files, hasher)
    assert len(caplog.records) == 1
    assert caplog.records[0].getMessage().startswith(f"{tmp_path / 'c.json'}: damaged memo (")
    assert hasher.hashed == ["a.txt", "b.txt"]
    assert scan(tmp_path / "c.json", files, hasher) and hasher.hashed == ["a.txt", "b.txt"]


def test_a_memo_of_another_version_is_ignored_silently(files: Path, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    hasher = Hasher()
    (tmp_path / "c.json").write_text('{"version": 1, "started_ns": 0, "entries": {}}')
    with caplog.at_level(logging.WARNING, logger="condapack"):
        scan(tmp_path / "c.json", files, hasher)
    assert caplog.records == [] and hasher.hashed == ["a.txt", "b.txt"]


def test_a_signature_is_remembered_with_its_fingerprint_and_listings(files: Path, tmp_path: Path) -> None:
    signature = tree_signature(files)
    memo = Memo(tmp_path / "c.json")
    memo.started_ns += 2 * RACY_NS
    memo.remember(signature, {"n": 1})
    memo.save()
    later = Memo(tmp_path / "c.json")
    listings = later.listings()
    assert listings is not None and listings.to_bytes() == signature.listings.to_bytes()
    assert later.remembered(signature, lambda doc: doc) == {"n": 1}
    (files / "c.txt").write_text("c")
    assert later.remembered(tree_signature(files, listings), lambda doc: doc) is None


def test_a_signature_with_a_recent_change_is_not_remembered(files: Path, tmp_path: Path) -> None:
    memo = Memo(tmp_path / "c.json")
    memo.remember(tree_signature(files), {"n": 1})
    memo.save()
    assert not (tmp_path / "c.tree.json").exists() and not (tmp_path / "c.listings").exists()
    assert Memo(tmp_path / "c.json").listings() is None


def test_damaged_listings_warn_and_are_not_used(files: Path, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "c.listings").write_bytes(b"condapack listings 1\n1 1\n")
    with caplog.at_level(logging.WARNING, logger="condapack"):
        assert Memo(tmp_path / "c.json").listings() is None
    assert [r.getMessage() for r in caplog.records] == [
        f"{tmp_path / 'c.listings'}: damaged memo (not a listings file); rescanning the environment "
        "(it is rewritten after this run)"]


def test_a_failed_write_only_costs_speed(files: Path, tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file where the memo directory should be")
    hasher = Hasher()
    scan(tmp_path / "blocked" / "c.json", files, hasher)
    scan(tmp_path / "blocked" / "c.json", files, hasher)
    assert hasher.hashed == ["a.txt", "b.txt"] * 2



def test_a_matching_signature_stores_the_listings_that_were_missing(files: Path, tmp_path: Path) -> None:
    (files / "sub").mkdir()
    memo = Memo(tmp_path / "c.json")
    memo.started_ns += 2 * RACY_NS
    memo.remember(tree_signature(files), {"n": 1})
    memo.save()
    (tmp_path / "c.listings").unlink()  # as a condapack that kept no listings left it
    later = Memo(tmp_path / "c.json")
    later.started_ns += 2 * RACY_NS
    signature = tree_signature(files, later.listings())
    assert later.remembered(signature, lambda doc: doc) == {"n": 1}
    later.save()
    replayed = tree_signature(files, Memo(tmp_path / "c.json").listings())
    assert (signature.listed, replayed.listed, replayed) == (1, 0, signature)
