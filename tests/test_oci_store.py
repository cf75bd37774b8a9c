"""The OCI archive written as it goes: headers filled in after their blobs, each blob once."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from condapack.oci import store
from condapack.oci.store import ArchiveStore


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob(archive: ArchiveStore, data: bytes) -> None:
    archive.begin().write(data)
    archive.end(_digest(data), len(data))


def test_an_archive_holds_each_blob_once_after_oci_layout_and_reads_back_as_a_tar(tmp_path: Path) -> None:
    layer, config = os.urandom(3000), b'{"a":1}'
    with open(tmp_path / "image.tar", "w+b") as fh:
        archive = ArchiveStore(fh, 0)
        archive.put("oci-layout", b"{}")
        for data in (layer, config, layer):
            _blob(archive, data)
        archive.put("index.json", b"[]")
        archive.close()
    with tarfile.open(tmp_path / "image.tar") as tar:
        names = tar.getnames()
        read = {name: tar.extractfile(name).read() for name in names if tar.getmember(name).isfile()}  # type: ignore[union-attr]
    assert names == ["blobs", "blobs/sha256", "oci-layout", f"blobs/sha256/{_digest(layer)[7:]}",
                     f"blobs/sha256/{_digest(config)[7:]}", "index.json"]
    assert read[f"blobs/sha256/{_digest(layer)[7:]}"] == layer and read["index.json"] == b"[]"
    assert (tmp_path / "image.tar").stat().st_size % (20 * 512) == 0


def test_moving_a_blob_up_for_a_longer_header_keeps_its_bytes_whatever_the_chunk_size(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "_CHUNK", 7)
    data = bytes(range(256)) * 3
    path = tmp_path / "f"
    path.write_bytes(b"H" * 512 + data)
    with open(path, "r+b") as fh:
        store._move_up(fh.fileno(), 512, len(data), 1024)
    assert path.read_bytes()[1536:] == data and len(path.read_bytes()) == 1536 + len(data)
    assert io.BytesIO(path.read_bytes()).read(512) == b"H" * 512
