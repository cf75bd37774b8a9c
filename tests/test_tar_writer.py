"""The tar writer on hand-made member lists, read back with the stdlib ``tarfile``."""

from __future__ import annotations

import io
import struct
import tarfile
from pathlib import Path
from typing import Optional

import pytest
import zstandard
from memberkit import REWRITTEN_TOOL, directory, generated, link, noise, on_disk, rewritten_tool

from condapack.archive.tar import header, write_compressed_tar
from condapack.errors import ArchiveError
from condapack.members import Member, PycRestamp, Roster, make_roster
from condapack.prefix import scan_prefix

MTIME = 1_700_000_000


def tar_bytes(tmp_path: Path, members: list[Member], *, compression: str = "", threads: int = 1,
              mtime: int = MTIME, progress: Optional[list[int]] = None) -> bytes:
    """The archive as written to a real file (the uncompressed sink copies file to file)."""
    out = tmp_path / "out.tar"
    roster = Roster(tuple(members), mtime, sum(m.size for m in members))
    with open(out, "wb") as fh:
        write_compressed_tar(fh, roster, (progress if progress is not None else []).append,
                             compression=compression, level=4, threads=threads)
    return out.read_bytes()


def read_back(data: bytes) -> dict[str, tuple[tarfile.TarInfo, bytes]]:
    """Every member by name, with its content."""
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data), encoding="utf-8", errors="surrogateescape") as tf:
        for info in tf.getmembers():
            fh = tf.extractfile(info) if info.isfile() else None
            out[info.name] = (info, fh.read() if fh is not None else b"")
    return out


def test_members_read_back_with_their_names_kinds_modes_and_content_in_order(tmp_path: Path) -> None:
    members = [directory("bin"), on_disk(tmp_path, "bin/tool", b"#!/bin/sh\necho hi\n", 0o755), link("bin/sh", "tool"),
               generated("conda-meta/state", b"{}\n"), on_disk(tmp_path, "share/a.txt", b"a\n")]
    data = tar_bytes(tmp_path, members)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        infos = tf.getmembers()
    assert [(i.name, i.type, i.mode, i.size, i.linkname) for i in infos] == [
        ("bin", tarfile.DIRTYPE, 0o755, 0, ""), ("bin/tool", tarfile.REGTYPE, 0o755, 18, ""),
        ("bin/sh", tarfile.SYMTYPE, 0o777, 0, "tool"), ("conda-meta/state", tarfile.REGTYPE, 0o644, 3, ""),
        ("share/a.txt", tarfile.REGTYPE, 0o644, 2, "")]
    back = read_back(data)
    assert back["bin/tool"][1] == b"#!/bin/sh\necho hi\n" and back["conda-meta/state"][1] == b"{}\n"


def test_every_member_gets_the_archive_mtime_and_root_ownership_whatever_the_disk_says(tmp_path: Path) -> None:
    members = [directory("d"), on_disk(tmp_path, "d/f", b"x"), link("d/l", "f"), generated("g", b"y")]
    for mtime in (MTIME, 0, 1577836800):
        with tarfile.open(fileobj=io.BytesIO(tar_bytes(tmp_path, members, mtime=mtime))) as tf:
            assert {(i.mtime, i.uid, i.gid, i.uname, i.gname, i.devmajor, i.devminor) for i in tf} == {
                (mtime, 0, 0, "", "", 0, 0)}


def test_a_directory_header_names_it_with_a_trailing_slash_once(tmp_path: Path) -> None:
    data = tar_bytes(tmp_path, [directory("share/empty"), directory("share/walked/")])
    assert data[:12] == b"share/empty/" and data[512:526] == b"share/walked/\0"
    assert {name: info.isdir() for name, (info, _) in read_back(data).items()} == {
        "share/empty": True, "share/walked": True}


def test_an_empty_file_has_a_header_and_no_content_block(tmp_path: Path) -> None:
    data = tar_bytes(tmp_path, [on_disk(tmp_path, "empty", b""), generated("also-empty", b""), generated("x", b"1")])
    assert data[512:522] == b"also-empty" and data[1024:1025] == b"x"
    back = read_back(data)
    assert (back["empty"][0].size, back["empty"][1], back["also-empty"][1]) == (0, b"", b"")


def test_names_up_to_100_bytes_fill_the_name_field_alone(tmp_path: Path) -> None:
    exact, longer = "d/" + "n" * 98, "d/" + "n" * 99
    plain = tar_bytes(tmp_path, [generated(exact, b"1")])
    assert plain[156:157] == b"0" and plain[:100] == exact.encode() and plain[345:500].strip(b"\0") == b""
    split = tar_bytes(tmp_path, [generated(longer, b"2")])
    assert split[:100] == b"n" * 99 + b"\0" and split[345:500].rstrip(b"\0") == b"d"
    assert read_back(split)[longer][1] == b"2"


def test_a_long_name_that_splits_at_a_slash_into_ustar_prefix_and_name_needs_no_pax_record(tmp_path: Path) -> None:
    place = "opt/conda/envs/example/lib/python3.12/site-packages/"
    name = place + "package/" + "m" * 60 + ".py"  # 131 bytes: past the name field, split after "package"
    data = tar_bytes(tmp_path, [generated(name, b"3"), directory(place + "d" * 70)])
    assert data[156:157] == b"0" and data[:100].rstrip(b"\0") == b"m" * 60 + b".py"
    assert data[345:500].rstrip(b"\0") == (place + "package").encode()
    assert data[1024 + 156:1024 + 157] == b"5" and data[1024:1124].rstrip(b"\0") == b"d" * 70 + b"/"
    back = read_back(data)
    assert back[name][1] == b"3" and back[place + "d" * 70][0].isdir()


@pytest.mark.parametrize("name", ["x" * 156 + "/z", "d/" + "y" * 101, "d/" + "e" * 100 + "/z" * 80])
def test_a_long_name_with_no_slash_to_split_at_gets_a_pax_path(tmp_path: Path, name: str) -> None:
    data = tar_bytes(tmp_path, [generated(name, b"4")])
    assert data[156:157] == b"x" and b"path=" + name.encode() + b"\n" in data[512:1024]
    assert data[1024 + 345:1024 + 500].strip(b"\0") == b""
    assert read_back(data)[name][1] == b"4"


def test_deep_paths_long_link_targets_and_non_ascii_names_read_back_whole(tmp_path: Path) -> None:
    deep = "lib/" + "deep/" * 60 + "module.py"
    far = "../" * 50 + "target"
    members = [generated(deep, b"deep\n"), link("lib/far", far), generated("share/ünïcode-ß.txt", b"u\n")]
    back = read_back(tar_bytes(tmp_path, members))
    assert back[deep][1] == b"deep\n"
    assert back["lib/far"][0].linkname == far
    assert back["share/ünïcode-ß.txt"][1] == b"u\n"
    # ustar fields are ASCII: a name of other characters goes in a pax record (UTF-8), as readers expect
    assert tar_bytes(tmp_path, [generated("share/ünïcode-ß.txt", b"u\n")])[156:157] == b"x"


def test_a_name_that_is_not_utf8_is_kept_byte_for_byte_under_a_binary_charset(tmp_path: Path) -> None:
    name = b"share/latin1-\xe9.txt".decode("utf-8", "surrogateescape")
    data = tar_bytes(tmp_path, [generated(name, b"e\n")])
    assert b"hdrcharset=BINARY\n" in data[512:1024]
    assert read_back(data)[name][1] == b"e\n"


def test_a_size_beyond_the_octal_field_is_given_in_a_pax_record() -> None:
    size = 8**11 + 5  # 8 GiB and a bit: one more than 11 octal digits hold
    head = header("big.bin", "file", 0o644, size, MTIME)
    assert b"size=%d\n" % size in head
    with tarfile.open(fileobj=io.BytesIO(head)) as tf:
        info = tf.next()
    assert info is not None and (info.name, info.size) == ("big.bin", size)


def test_an_mtime_beyond_the_octal_field_still_reads_back(tmp_path: Path) -> None:
    mtime = 8**11
    with tarfile.open(fileobj=io.BytesIO(tar_bytes(tmp_path, [generated("f", b"1")], mtime=mtime))) as tf:
        assert [i.mtime for i in tf] == [mtime]


def test_files_of_a_mebibyte_and_more_are_streamed_whole(tmp_path: Path) -> None:
    big, bigger = noise(1 << 20), noise(3 * (1 << 20) + 7, seed=2)
    members = [on_disk(tmp_path, "a.bin", big), on_disk(tmp_path, "b.bin", bigger), generated("c", b"after")]
    for compression in ("", "gz"):
        back = read_back(tar_bytes(tmp_path, members, compression=compression))
        assert (back["a.bin"][1], back["b.bin"][1], back["c"][1]) == (big, bigger, b"after"), compression


def pyc(source_mtime: int, body: bytes) -> bytes:
    return struct.pack("<4sIII", b"\xa7\r\r\n", 0, source_mtime, 6) + body


@pytest.mark.parametrize("body_size", [10, 2 << 20])
def test_a_pyc_header_is_restamped_in_small_and_streamed_files(tmp_path: Path, body_size: int) -> None:
    body = noise(body_size)
    restamp = PycRestamp(source_mtime=1_600_000_000, source_size=6, new_mtime=MTIME)
    member = on_disk(tmp_path, "m.pyc", pyc(1_600_000_000, body))
    member = Member(name=member.name, kind="file", mode=0o644, size=member.size, source=member.source,
                    transforms=(restamp,))
    assert read_back(tar_bytes(tmp_path, [member]))["m.pyc"][1] == pyc(MTIME, body)


def test_a_rewritten_file_is_stored_with_its_new_length(tmp_path: Path) -> None:
    member = rewritten_tool(tmp_path)
    info, content = read_back(tar_bytes(tmp_path, [member]))["bin/tool"]
    assert content == REWRITTEN_TOOL and info.size == len(content)


def test_the_archive_ends_with_two_zero_blocks_padded_to_a_whole_record(tmp_path: Path) -> None:
    # 19 blocks of members leave room for one zero block in the first record, not for two
    nineteen = [generated("a", b"1"), generated("b", b"x" * 600), generated("c", b"y" * 13 * 512)]
    for members in ([], [generated("a", b"1")], [generated(f"f{i}", b"x" * 600) for i in range(9)], nineteen):
        data = tar_bytes(tmp_path, members)
        assert len(data) % 10240 == 0 and data[-1024:] == b"\0" * 1024
        blocks = sum(1 + -(-m.size // 512) for m in members) + 2
        end = (blocks - 2) * 512  # after the last member: zeros to the end of the record
        assert len(data) == -(-blocks * 512 // 10240) * 10240 and data[end:] == bytes(len(data) - end)


def test_progress_is_told_each_members_content_bytes(tmp_path: Path) -> None:
    progress: list[int] = []
    members = [directory("d"), on_disk(tmp_path, "d/a", b"abc"), link("d/l", "a"), generated("g", b"12345"),
               on_disk(tmp_path, "big", noise(1 << 20))]
    tar_bytes(tmp_path, members, progress=progress)
    assert progress == [0, 3, 0, 5, 1 << 20]


@pytest.mark.parametrize("size", [100, 2 << 20])
@pytest.mark.parametrize("change", [-1, 1])
def test_a_file_that_shrank_or_grew_since_it_was_planned_is_an_error_not_a_cut(
        tmp_path: Path, size: int, change: int) -> None:
    member = on_disk(tmp_path, "share/log", noise(size + change))
    planned = Member(name=member.name, kind="file", mode=0o644, size=size, source=member.source)
    with pytest.raises(ArchiveError) as info:
        tar_bytes(tmp_path, [planned])
    assert str(info.value) == (f"{member.source} changed size while it was being packed; pack again when nothing "
                               "is writing to the environment")


def mixed(tmp_path: Path) -> list[Member]:
    return [directory("d"), *(on_disk(tmp_path, f"d/small{i}", noise(3000, seed=i)) for i in range(20)),
            on_disk(tmp_path, "d/big", noise(5 << 19, seed=99)), link("d/l", "big"), generated("g", b"gen")]


@pytest.mark.parametrize("compression", ["", "gz", "zst"])
def test_bytes_are_the_same_on_every_run_and_for_one_or_two_threads(tmp_path: Path, compression: str) -> None:
    members = mixed(tmp_path)
    one = tar_bytes(tmp_path, members, compression=compression, threads=1)
    assert tar_bytes(tmp_path, members, compression=compression, threads=2) == one
    assert tar_bytes(tmp_path, members, compression=compression, threads=1) == one
    plain = bytes(zstandard.ZstdDecompressor().decompressobj().decompress(one)) if compression == "zst" else one
    assert read_back(plain)["d/big"][1] == noise(5 << 19, seed=99)


def test_hard_links_of_an_environment_are_two_regular_members_with_their_content(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "lib").mkdir()
    (prefix / "lib/libx.so.1").write_bytes(b"shared\n")
    (prefix / "lib/libx.so").hardlink_to(prefix / "lib/libx.so.1")
    roster = make_roster(prefix, scan_prefix(prefix).files)
    back = read_back(tar_bytes(tmp_path, list(roster.members)))
    for name in ("lib/libx.so", "lib/libx.so.1"):
        assert (back[name][0].type, back[name][1]) == (tarfile.REGTYPE, b"shared\n")
    assert not [info for info, _ in back.values() if info.islnk()]
