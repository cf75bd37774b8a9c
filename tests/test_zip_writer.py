"""The zip writer on hand-made member lists, read back with the stdlib ``zipfile``."""

from __future__ import annotations

import io
import stat
import struct
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Optional

import pytest
from memberkit import REWRITTEN_TOOL, directory, generated, link, noise, on_disk, rewritten_tool

from condapack.archive import zip as zipwriter
from condapack.archive.zip import write_zip
from condapack.errors import ArchiveError
from condapack.members import Member, make_roster
from condapack.prefix import scan_prefix

MTIME = 1_700_000_001  # 2023-11-14 22:13:21 UTC: an odd second, which DOS times cannot hold
BIG = 9 << 20  # above the 8 MiB from which files are deflated block by block


def zip_bytes(members: list[Member], *, level: int = 4, threads: int = 1, zip_64: bool = True,
              mtime: int = MTIME, progress: Optional[list[int]] = None) -> bytes:
    out = io.BytesIO()
    write_zip(out, tuple(members), mtime, (progress if progress is not None else []).append, level=level,
              zip_64=zip_64, threads=threads)
    return out.getvalue()


def read_back(data: bytes) -> dict[str, tuple[zipfile.ZipInfo, bytes]]:
    """Every entry by name with its content (zipfile checks each CRC as it reads)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        return {info.filename: (info, zf.read(info)) for info in zf.infolist()}


def test_entries_read_back_with_their_names_kinds_modes_and_content_in_order(tmp_path: Path) -> None:
    members = [directory("bin"), on_disk(tmp_path, "bin/tool", b"#!/bin/sh\necho hi\n", 0o755), link("bin/sh", "tool"),
               generated("conda-meta/state", b"{}\n"), on_disk(tmp_path, "share/a.txt", b"a\n")]
    back = read_back(zip_bytes(members))
    assert [(name, info.external_attr >> 16, info.create_system) for name, (info, _) in back.items()] == [
        ("bin/", stat.S_IFDIR | 0o755, 3), ("bin/tool", stat.S_IFREG | 0o755, 3), ("bin/sh", stat.S_IFLNK | 0o777, 3),
        ("conda-meta/state", stat.S_IFREG | 0o644, 3), ("share/a.txt", stat.S_IFREG | 0o644, 3)]
    assert back["bin/"][0].external_attr & 0x10  # the MS-DOS directory bit
    assert [back[n][1] for n in ("bin/", "bin/tool", "conda-meta/state")] == [b"", b"#!/bin/sh\necho hi\n", b"{}\n"]


def test_a_symlink_is_stored_uncompressed_with_its_target_as_content() -> None:
    info, content = read_back(zip_bytes([link("lib/libz.so", "libz.so.1.3")]))["lib/libz.so"]
    assert (content, info.compress_type) == (b"libz.so.1.3", zipfile.ZIP_STORED)


def test_every_entry_gets_the_archive_mtime_to_the_even_second_and_never_before_1980(tmp_path: Path) -> None:
    members = [directory("d"), on_disk(tmp_path, "d/f", b"x"), link("d/l", "f"), generated("g", b"y")]
    expected = time.gmtime(MTIME - 1)[:6]
    assert {info.date_time for info, _ in read_back(zip_bytes(members)).values()} == {expected}
    assert {info.date_time for info, _ in read_back(zip_bytes(members, mtime=0)).values()} == {(1980, 1, 1, 0, 0, 0)}


def test_an_mtime_after_2107_is_clamped_to_the_last_dos_time() -> None:
    info, _ = read_back(zip_bytes([generated("f", b"1")], mtime=4_354_819_200))["f"]  # 2108-01-01
    assert info.date_time == (2107, 12, 31, 23, 59, 58)


def test_content_is_deflated_except_empty_files_and_at_level_0(tmp_path: Path) -> None:
    members = [on_disk(tmp_path, "text", noise(5000)), on_disk(tmp_path, "empty", b""), generated("gen", b"g" * 100)]
    back = read_back(zip_bytes(members))
    assert {n: (i.compress_type, i.file_size) for n, (i, _) in back.items()} == {
        "text": (zipfile.ZIP_DEFLATED, 5000), "empty": (zipfile.ZIP_STORED, 0), "gen": (zipfile.ZIP_DEFLATED, 100)}
    assert back["text"][1] == noise(5000) and back["empty"][1] == b""
    stored = read_back(zip_bytes(members, level=0))
    assert {i.compress_type for i, _ in stored.values()} == {zipfile.ZIP_STORED}
    assert stored["text"][1] == noise(5000)


def test_long_and_non_ascii_names_read_back_and_only_utf8_ones_are_flagged_utf8() -> None:
    deep = "lib/" + "deep/" * 60 + "module.py"
    latin1 = b"share/latin1-\xe9.txt".decode("utf-8", "surrogateescape")
    names = [generated(deep, b"d"), generated("share/ünïcode-ß.txt", b"u"), generated(latin1, b"l")]
    back = read_back(zip_bytes(names))
    assert back[deep][0].flag_bits & 0x800 == 0
    assert back["share/ünïcode-ß.txt"][0].flag_bits & 0x800 and back["share/ünïcode-ß.txt"][1] == b"u"
    cp437 = b"share/latin1-\xe9.txt".decode("cp437")  # how readers show a name without the flag
    assert back[cp437][0].flag_bits & 0x800 == 0 and back[cp437][1] == b"l"


def test_a_rewritten_file_is_stored_with_its_new_content(tmp_path: Path) -> None:
    member = rewritten_tool(tmp_path)
    info, content = read_back(zip_bytes([member]))["bin/tool"]
    assert content == REWRITTEN_TOOL and info.file_size == len(content)


def local_header(data: bytes, info: zipfile.ZipInfo) -> tuple[int, int, int]:
    """(crc, compressed size, size) as the entry's local header gives them."""
    fields = struct.unpack_from("<IHHHHHIIIHH", data, info.header_offset)
    assert fields[0] == 0x04034B50
    return fields[6], fields[7], fields[8]


@pytest.mark.parametrize("level", [0, 4])
def test_a_file_above_8_mib_is_streamed_and_its_local_header_filled_in_after(tmp_path: Path, level: int) -> None:
    content = noise(BIG)
    members = [generated("a", b"before"), on_disk(tmp_path, "lib/big.so", content), generated("z", b"after")]
    data = zip_bytes(members, level=level)
    back = read_back(data)
    info, read = back["lib/big.so"]
    assert read == content and (back["a"][1], back["z"][1]) == (b"before", b"after")
    assert info.compress_type == (zipfile.ZIP_DEFLATED if level else zipfile.ZIP_STORED)
    assert local_header(data, info) == (info.CRC, info.compress_size, info.file_size)
    assert info.compress_size < BIG if level else info.compress_size == BIG
    assert zip_bytes(members, level=level, threads=2) == data


def test_a_big_file_that_is_shorter_than_planned_is_an_error(tmp_path: Path) -> None:
    member = on_disk(tmp_path, "lib/big.so", noise(BIG))
    shrunk = Member(name=member.name, kind="file", mode=0o644, size=BIG + 1, source=member.source)
    with pytest.raises(ArchiveError) as info:
        zip_bytes([shrunk])
    assert str(info.value) == (f"{member.source} changed size while it was being packed; pack again when nothing "
                               "is writing to the environment")


@pytest.mark.parametrize("change", [-1, 1])
def test_a_small_file_that_shrank_or_grew_since_it_was_planned_is_an_error_not_a_wrong_entry(
        tmp_path: Path, change: int) -> None:
    member = on_disk(tmp_path, "share/log", noise(100 + change))
    planned = Member(name=member.name, kind="file", mode=0o644, size=100, source=member.source)
    with pytest.raises(ArchiveError) as info:
        zip_bytes([planned])
    assert str(info.value) == (f"{member.source} changed size while it was being packed; pack again when nothing "
                               "is writing to the environment")


def test_a_file_of_4_gib_needs_zip64_and_no_zip_64_refuses_it_before_reading(tmp_path: Path) -> None:
    # the size is what the roster says; the refusal comes before a byte is read
    member = on_disk(tmp_path, "lib/huge.bin", b"tiny")
    huge = Member(name=member.name, kind="file", mode=0o644, size=4 << 30, source=member.source)
    with pytest.raises(ArchiveError) as info:
        zip_bytes([huge], zip_64=False)
    assert str(info.value) == "the zip archive needs ZIP64 extensions (lib/huge.bin); drop --no-zip-64"


def test_65535_entries_need_zip64_records_and_no_zip_64_refuses_them() -> None:
    below = [generated(f"d/{i:05d}", b"") for i in range(65534)]
    fits = zip_bytes(below, zip_64=False)
    assert fits[-22:-18] == b"PK\x05\x06" and b"PK\x06\x06" not in fits[-200:]  # no ZIP64 end record
    at = [*below, generated("d/last", b"")]
    with pytest.raises(ArchiveError) as info:
        zip_bytes(at, zip_64=False)
    assert str(info.value) == "the zip archive needs ZIP64 extensions (65535 members); drop --no-zip-64"
    data = zip_bytes(at)
    assert b"PK\x06\x06" in data[-200:] and b"PK\x06\x07" in data[-200:]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        assert len(names) == 65535 and names[-1] == "d/last" and zf.read("d/last") == b""


def test_sizes_and_offsets_of_4_gib_and_more_go_into_a_zip64_extra_field() -> None:
    # writing 4 GiB is out of the question: give the writer's central directory an entry that says so
    out = io.BytesIO()
    writer = zipwriter._ZipWriter(out, MTIME, 4, 1, True)
    writer._record(zipwriter._Entry(b"lib/huge.bin", 0, 8, 0, 0x21, 0x1234, 5 << 30, 6 << 30,
                                           (stat.S_IFREG | 0o644) << 16, 7 << 30))
    writer._record(zipwriter._Entry(b"lib/after", 0, 0, 0, 0x21, 0, 3, 3, (stat.S_IFREG | 0o644) << 16,
                                           8 << 30))
    writer.finish()
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as zf:
        huge, after = zf.infolist()
    assert (huge.compress_size, huge.file_size, huge.header_offset, huge.CRC) == (5 << 30, 6 << 30, 7 << 30, 0x1234)
    assert (after.compress_size, after.file_size, after.header_offset) == (3, 3, 8 << 30)


def test_progress_is_told_each_members_content_bytes(tmp_path: Path) -> None:
    progress: list[int] = []
    members = [directory("d"), on_disk(tmp_path, "d/a", b"abc"), link("d/l", "a"), generated("g", b"12345"),
               on_disk(tmp_path, "d/big", noise(BIG))]
    zip_bytes(members, progress=progress)
    assert progress == [0, 3, 0, 5, BIG]


def mixed(tmp_path: Path) -> list[Member]:
    """More small files than one batch holds, batches cut by size, a big file between them."""
    smalls = [on_disk(tmp_path, f"a/small{i:03d}", noise(300 * i, seed=i)) for i in range(150)]
    return [directory("a"), *smalls[:100], on_disk(tmp_path, "a/big", noise(BIG, seed=99)), *smalls[100:],
            link("a/l", "big"), generated("g", b"gen")]


def test_bytes_are_the_same_on_every_run_and_for_one_two_or_three_threads(tmp_path: Path) -> None:
    members = mixed(tmp_path)
    one = zip_bytes(members, threads=1)
    assert zip_bytes(members, threads=2) == one
    assert zip_bytes(members, threads=3) == one
    assert zip_bytes(members, threads=1) == one
    back = read_back(one)
    assert list(back) == ["a/", *(m.name for m in members[1:])]
    assert all(back[m.name][1] == m.read() for m in members if m.kind == "file")


def test_an_empty_directory_of_an_environment_is_one_entry_with_one_trailing_slash(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "share/empty").mkdir(parents=True)
    roster = make_roster(prefix, scan_prefix(prefix).files)
    names = list(read_back(zip_bytes(list(roster.members))))
    assert "share/empty/" in names and not [n for n in names if n.endswith("//")]


def test_a_central_directory_spilled_to_a_temporary_file_gives_the_same_archive(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a big environment's central directory is not held in memory (8 MiB at most)
    members = [directory("d"), *(on_disk(tmp_path, f"d/f{i}", b"x" * i) for i in range(200)), link("d/l", "f1")]
    in_memory = zip_bytes(members)
    spools: list[Spool] = []

    class Spool(tempfile.SpooledTemporaryFile[bytes]):
        spilled = False

        def rollover(self) -> None:
            self.spilled = True
            super().rollover()

    def spool(max_size: int) -> Spool:
        spools.append(Spool(max_size=max_size))
        return spools[-1]

    monkeypatch.setattr(zipwriter, "_SPOOL", 1_000)
    monkeypatch.setattr(tempfile, "SpooledTemporaryFile", spool)
    assert zip_bytes(members) == in_memory
    assert len(spools) == 1 and spools[0].spilled and spools[0].closed
    assert len(read_back(in_memory)) == len(members)


def test_a_full_temporary_directory_is_named_in_the_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Full(io.BytesIO):
        def write(self, data: object) -> int:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "SpooledTemporaryFile", lambda max_size: Full())
    with pytest.raises(ArchiveError) as info:
        zip_bytes([generated("a", b"x")])
    assert str(info.value) == (f"cannot write the zip's central directory to a temporary file in "
                               f"{tempfile.gettempdir()}: No space left on device; free some space there "
                               "or set TMPDIR to a directory with room")
