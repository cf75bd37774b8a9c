"""Pin the archive primitives: tar headers tarfile can read, and compressors whose
output is standard and independent of the thread count."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import random
import subprocess
import sysconfig
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import Callable

import pytest
import zstandard

from condapack.archive.codec import LEVELS, deflate, deflate_job, estimated_ratio
from condapack.archive.sink import open_sink
from condapack.archive.tar import header
from condapack.archive.zip import write_zip
from condapack.members import Member
from systools import require


def sample() -> bytes:
    """3 MB mixing text (where ISA-L and zlib-ng differ) and random bytes."""
    rng = random.Random(7)
    text = b"".join(b"def f%d(x):\n    return x * %d  # comment\n" % (i, i) for i in range(30_000))
    return text + rng.randbytes(1_000_000) + text[:500_000]


def compress(data: bytes, compression: str, level: int, threads: int) -> bytes:
    out = io.BytesIO()
    sink = open_sink(out, compression, level, threads)
    for i in range(0, len(data), 100_000):
        sink.write(data[i:i + 100_000])
    sink.close()
    return out.getvalue()


DECOMPRESS: dict[str, Callable[[bytes], bytes]] = {"gz": gzip.decompress, "bz2": bz2.decompress, "xz": lzma.decompress,
              "zst": lambda d: bytes(zstandard.ZstdDecompressor().decompressobj().decompress(d))}


@pytest.mark.parametrize("compression, level", [
    ("gz", 0), ("gz", 1), ("gz", 4), ("gz", 6), ("gz", 9), pytest.param("bz2", 4, marks=pytest.mark.slow),
    pytest.param("xz", 1, marks=pytest.mark.slow), ("zst", 4), pytest.param("zst", 19, marks=pytest.mark.slow)])
def test_output_is_standard_and_the_same_for_any_thread_count(compression: str, level: int) -> None:
    data = sample()
    one = compress(data, compression, level, 1)
    assert DECOMPRESS[compression](one) == data
    assert compress(data, compression, level, 2) == one
    assert compress(data, compression, level, 3) == one


@pytest.mark.parametrize("compression", ["", "gz", "zst"])
def test_one_big_write_gives_the_bytes_of_many_small_ones(compression: str, tmp_path: Path) -> None:
    data = sample()
    written = []
    for pieces in ([data[:123], data[123:]], [data[i:i + 100_000] for i in range(0, len(data), 100_000)]):
        with open(tmp_path / "out", "wb") as out:
            sink = open_sink(out, compression, 4, 2)
            for piece in pieces:
                sink.write(bytearray(piece))
            sink.close()
        written.append((tmp_path / "out").read_bytes())
    assert written[0] == written[1]
    assert (DECOMPRESS[compression](written[0]) if compression else written[0]) == data


def test_top_gzip_level_is_smaller_than_the_fastest() -> None:
    data = sample()
    assert len(compress(data, "gz", 9, 2)) < len(compress(data, "gz", 1, 2))


def test_text_blocks_are_told_from_incompressible_ones_before_compressing() -> None:
    data = sample()
    threshold = LEVELS[4].isal_above
    assert estimated_ratio(data[:1 << 20]) < threshold  # source code: goes to libdeflate
    assert estimated_ratio(data[len(data) - 1_600_000:][:1 << 20]) > threshold  # mostly random bytes: ISA-L
    assert estimated_ratio(b"x" * 100) < threshold  # short blocks are sampled whole
    assert estimated_ratio(b"") == 1.0


def test_default_gzip_level_beats_isal_alone_on_source_code() -> None:
    text = stdlib_source()
    default, isal_only = compress(text, "gz", 4, 2), compress(text, "gz", 3, 2)
    assert gzip.decompress(default) == text
    assert len(default) < 0.93 * len(isal_only)


def stdlib_source() -> bytes:
    stdlib = Path(os.__file__).parent
    return b"".join(path.read_bytes() for path in sorted(stdlib.glob("*.py")))[:1_200_000]


def shared_libraries() -> bytes:
    """3 MB of the interpreter's own extension modules (real compiled code)."""
    dynload = Path(sysconfig.get_config_var("DESTSHARED"))
    return b"".join(path.read_bytes() for path in sorted(dynload.glob("*.so")))[:3_000_000]


def zlib4(data: bytes) -> int:
    """The size conda-pack gets at its default level: zlib 4, one stream."""
    cobj = zlib.compressobj(4, zlib.DEFLATED, -15)
    return len(cobj.compress(data) + cobj.flush())


@pytest.mark.parametrize("content", [stdlib_source, shared_libraries])
def test_default_level_is_no_larger_than_conda_packs_zlib_4(content: Callable[[], bytes]) -> None:
    data = content()
    gz = compress(data, "gz", 4, 2)
    assert gzip.decompress(gz) == data
    assert len(gz) <= zlib4(data) + 18 * 3  # a gzip header and trailer per 1 MiB block
    member = deflate(data, 4)
    assert zlib.decompress(member, -15) == data
    assert len(member) <= zlib4(data)


def streamed(data: bytes, level: int) -> bytes:
    """A deflate stream of 1 MiB blocks as a big zip member is written."""
    blocks = [data[i:i + (1 << 20)] for i in range(0, len(data), 1 << 20)]
    job = deflate_job(level)
    return b"".join(job(block, blocks[i - 1][-(1 << 15):] if i else b"", i == len(blocks) - 1)
                    for i, block in enumerate(blocks))


@pytest.mark.parametrize("level", [0, 1, 4, 9])
def test_big_zip_members_are_one_deflate_stream_over_blocks(level: int) -> None:
    data = sample()
    assert zlib.decompress(streamed(data, level), -15) == data


def test_big_zip_members_at_the_default_level_are_no_larger_than_zlib_4() -> None:
    data = stdlib_source() + shared_libraries()
    assert len(streamed(data, 4)) <= zlib4(data)


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """Files around the 8 MiB big-member threshold, of text, code and random bytes, and small ones."""
    rng = random.Random(11)
    mixed = (stdlib_source() + shared_libraries() + rng.randbytes(1 << 20)) * 2  # 10.5 MB, blocks of each kind
    contents = {"big/mixed.so": mixed, "big/whole-blocks.bin": mixed[:9 << 20],
                "big/threshold.bin": mixed[:8 << 20], "big/threshold-plus-one.bin": mixed[:(8 << 20) + 1],
                "small/a.py": stdlib_source()[:5000], "small/empty.txt": b"",
                "small/random.bin": rng.randbytes(300_000)}
    root = tmp_path_factory.mktemp("big-tree")
    for name, data in contents.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root, contents


def zipped(tree: tuple[Path, dict[str, bytes]], level: int, threads: int) -> bytes:
    root, contents = tree
    members = tuple(Member(name=name, kind="file", mode=0o644, size=len(data), source=str(root / name))
                    for name, data in sorted(contents.items()))
    members += (Member(name="small/generated.txt", kind="file", mode=0o644, size=4, data=b"made"),)
    out = io.BytesIO()
    write_zip(out, members, 1_577_836_800, lambda n: None, level=level, zip_64=True, threads=threads)
    return out.getvalue()


@pytest.mark.parametrize("level", [4, pytest.param(1, marks=pytest.mark.slow), pytest.param(9, marks=pytest.mark.slow)])
def test_zip_with_big_members_of_mixed_content_is_the_same_for_any_thread_count_and_reads_back(
        big_tree: tuple[Path, dict[str, bytes]], tmp_path: Path, level: int) -> None:
    one = zipped(big_tree, level, 1)
    assert zipped(big_tree, level, 2) == one
    assert zipped(big_tree, level, 3) == one
    archive = tmp_path / "big.zip"
    archive.write_bytes(one)
    contents = big_tree[1]
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None  # every CRC checks out
        infos = {info.filename: info for info in zf.infolist()}
        for name, data in contents.items():
            assert (infos[name].file_size, infos[name].CRC) == (len(data), zlib.crc32(data)), name
            assert zf.read(name) == data, name
        assert zf.read("small/generated.txt") == b"made"
    assert {info.compress_type for name, info in infos.items() if contents.get(name, b"x")} == {zipfile.ZIP_DEFLATED}
    subprocess.run([require("unzip"), "-tq", str(archive)], check=True, capture_output=True)


def test_big_zip_members_at_the_default_level_are_no_larger_than_zlib_4_whole(
        big_tree: tuple[Path, dict[str, bytes]]) -> None:
    with zipfile.ZipFile(io.BytesIO(zipped(big_tree, 4, 2))) as zf:
        big = [info for info in zf.infolist() if info.file_size > 8 << 20]
        assert len(big) == 3
        assert sum(info.compress_size for info in big) <= sum(zlib4(big_tree[1][info.filename]) for info in big)


def test_higher_levels_shrink_source_code() -> None:
    text = stdlib_source()
    sizes = {level: len(deflate(text, level)) for level in (1, 4, 9)}
    assert zlib.decompress(deflate(text, 9), -15) == text
    assert sizes[9] < 0.93 * sizes[4] < 0.93 * sizes[1]


def gzip_members(data: bytes) -> int:
    """How many gzip members follow each other in ``data``."""
    count = 0
    while data:
        decompressor = zlib.decompressobj(31)
        decompressor.decompress(data)
        assert decompressor.eof
        data = decompressor.unused_data
        count += 1
    return count


def test_gzip_blocks_are_one_member_each_and_an_empty_stream_is_one_empty_member() -> None:
    data = sample()
    assert gzip_members(compress(data, "gz", 4, 2)) == -(-len(data) // (1 << 20))
    assert gzip_members(compress(data[:2 << 20], "gz", 4, 2)) == 2  # no empty member after a full block
    empty = compress(b"", "gz", 4, 1)
    assert gzip_members(empty) == 1 and gzip.decompress(empty) == b""
    assert empty[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no name, no time


def test_multi_member_tar_gz_reads_with_gzip_pigz_gnu_tar_and_bsdtar(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    payload = sample() + stdlib_source()
    (tmp_path / "src" / "data.bin").write_bytes(payload)
    head = header("data.bin", "file", 0o644, len(payload), 0)
    tar = head + payload + b"\0" * (-len(payload) % 512) + b"\0" * 1024
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(compress(tar, "gz", 4, 2))
    assert gzip_members(archive.read_bytes()) > 1
    for tool in ("gzip", "pigz"):
        out = subprocess.run([require(tool), "-dc", str(archive)], capture_output=True, check=True).stdout
        assert out == tar, tool
    for tool in ("tar", "bsdtar"):
        dest = tmp_path / tool
        dest.mkdir()
        subprocess.run([require(tool), "-xzf", str(archive), "-C", str(dest)], check=True)
        assert (dest / "data.bin").read_bytes() == payload, tool
    with tarfile.open(archive) as tf:
        extracted = tf.extractfile("data.bin")
        assert extracted is not None and extracted.read() == payload


def test_empty_streams_are_valid() -> None:
    for compression in DECOMPRESS:
        assert DECOMPRESS[compression](compress(b"", compression, 4, 2)) == b""


@pytest.mark.parametrize("name, kind, link", [
    ("lib/python3.11/site-packages/x.py", "file", ""),
    ("deep/" * 40 + "long-name.py", "file", ""),
    ("share/ünïcode.txt", "file", ""),
    ("bin", "dir", ""),
    ("bin/python", "symlink", "python3.11"),
    ("bin/far", "symlink", "../" * 60 + "target"),
])
def test_headers_read_back_with_tarfile(name: str, kind: str, link: str) -> None:
    size = 1234 if kind == "file" else 0
    head = header(name, kind, 0o755, size, 1_577_836_800, link)
    body = b"x" * size + b"\0" * (-size % 512)
    with tarfile.open(fileobj=io.BytesIO(head + body + b"\0" * 1024)) as tf:
        (member,) = tf.getmembers()
    assert member.name == name.rstrip("/")
    assert (member.size, member.mtime, member.mode, member.uid, member.gid) == (size, 1_577_836_800, 0o755, 0, 0)
    assert member.linkname == link
    assert {"file": member.isfile(), "dir": member.isdir(), "symlink": member.issym()}[kind]


def test_plain_header_is_one_ustar_block_with_a_valid_checksum() -> None:
    head = header("a.txt", "file", 0o644, 5, 0)
    assert len(head) == 512
    assert head[257:265] == b"ustar\x0000"
    assert head[148:156] == b"%06o\0 " % (sum(head[:148]) + 8 * 32 + sum(head[156:]))
