"""Pin the pure prefix-rewriting functions shipped inside every archive."""

from __future__ import annotations

import random
import re

import pytest

from condapack.unpack.rewrite import (
    HEAD,
    SHEBANG_LIMIT,
    PrefixError,
    binary_fields,
    holds,
    is_launcher,
    make_shebang,
    parse_shebang,
    relocated_header,
    render_field,
    render_windows_field,
    replace_binary,
    replace_chunks,
    replace_text,
    replace_windows_binary,
    replace_windows_text,
    windows_binary_fields,
    windows_prefix,
)

OLD = b"/opt/envs/old"


def test_text_replaces_every_occurrence_of_any_length() -> None:
    data = b"prefix=/opt/envs/old\nlibdir=/opt/envs/old/lib\n"
    assert replace_text(data, OLD, b"/x") == b"prefix=/x\nlibdir=/x/lib\n"
    long = b"/" + b"a" * 300
    assert replace_text(data, OLD, long) == data.replace(OLD, long)


def test_text_without_the_prefix_is_returned_unchanged() -> None:
    data = b"nothing here"
    assert replace_text(data, OLD, b"/new") is data


def test_short_shebang_stays_a_plain_absolute_shebang() -> None:
    data = b"#!/opt/envs/old/bin/python3.11\nprint(1)\n"
    assert replace_text(data, OLD, b"/srv/env") == b"#!/srv/env/bin/python3.11\nprint(1)\n"


def test_too_long_python_shebang_becomes_the_sh_trampoline() -> None:
    new = b"/" + b"d" * SHEBANG_LIMIT
    out = replace_text(b"#!/opt/envs/old/bin/python -E\nprint(1)\n", OLD, new)
    assert out == (b"#!/bin/sh\n'''exec' '" + new + b"/bin/python' -E \"$0\" \"$@\"\n' '''\nprint(1)\n")


def test_trampoline_turns_back_into_a_shebang_when_moved_to_a_short_path() -> None:
    long = b"/" + b"d" * SHEBANG_LIMIT
    tramp = replace_text(b"#!/opt/envs/old/bin/python\nx\n", OLD, long)
    assert replace_text(tramp, long, b"/s") == b"#!/s/bin/python\nx\n"


def test_too_long_non_python_shebang_falls_back_to_env() -> None:
    new = b"/" + b"d" * SHEBANG_LIMIT
    assert replace_text(b"#!/opt/envs/old/bin/bash -e\necho\n", OLD, new) == b"#!/usr/bin/env bash -e\necho\n"


def test_shebang_outside_the_prefix_is_left_alone() -> None:
    data = b"#!/usr/bin/python3\nprint('/opt/envs/old')\n"
    assert replace_text(data, OLD, b"/n") == b"#!/usr/bin/python3\nprint('/n')\n"


def test_parse_shebang_reads_plain_and_trampoline_headers() -> None:
    assert parse_shebang(b"#! /a/python -u\nrest") == (b"/a/python", b" -u", 16)
    long_python = b"/" + b"d" * 130 + b"/bin/python3.11"
    trampoline = make_shebang(long_python, b" -E")
    assert trampoline.startswith(b"#!/bin/sh\n")
    assert parse_shebang(trampoline + b"import sys\n") == (long_python, b" -E", len(trampoline))
    assert parse_shebang(b"no shebang") is None


# The headers parse_shebang reads, as regular expressions (it parses them by hand: conda-unpack
# does not import re): the /bin/sh trampoline first (its interpreter in double quotes, or a
# word of quoting.sh_word's pieces followed by a blank), then a plain "#!" line.
SH_PIECE = b"'[^'\n]*'|\"'\"|\\\\\\\\"
TRAMPOLINE = re.compile(
    b"\\A#!/bin/sh\n'''exec' (?:\"(?P<interp>[^\"\n]*)\"|(?P<word>(?:" + SH_PIECE + b")+)(?=[ \t]))"
    b"(?P<args>[^\n]*?) \"\\$0\" \"\\$@\"\n' '''\n")
SHEBANG = re.compile(b"\\A#![ \t]*(?P<interp>[^ \t\n]+)(?P<args>[^\n]*)\n")
HEADER_PIECES = (b"#!", b"#!/bin/sh\n'''exec' \"", b"#!/bin/sh\n'''exec' '", b"\"'\"", b"\\\\",
                 b' "$0" "$@"', b"\n' '''\n", b"\n", b" ", b"\t", b'"', b"\r",
                 b"/p/bin/python", b"-E", b"'", b"$0", b"#")


@pytest.mark.parametrize("seed", range(4))
def test_parse_shebang_reads_what_the_header_grammar_matches(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(20000):
        data = b"".join(rng.choice(HEADER_PIECES) for _ in range(rng.randint(0, 9)))
        match = TRAMPOLINE.match(data) or SHEBANG.match(data)
        expected = None if match is None else (_interpreter(match), match.group("args"), match.end())
        assert parse_shebang(data) == expected, data


def _interpreter(match: re.Match[bytes]) -> bytes:
    """The interpreter a TRAMPOLINE or SHEBANG match names, its sh word read back."""
    word = match.groupdict().get("word")
    if word is None:
        return match.group("interp")
    pieces = re.findall(SH_PIECE, word)
    return b"".join(b"'" if p == b"\"'\"" else b"\\" if p == b"\\\\" else p[1:-1] for p in pieces)


def test_binary_keeps_size_and_pads_with_nuls() -> None:
    data = b"A" + OLD + b"/lib\0" + b"\0" * 20 + b"Z"
    out = replace_binary(data, OLD, b"/s", capacity=len(OLD) + 20)
    assert len(out) == len(data)
    assert out == b"A/s/lib\0" + b"\0" * (len(OLD) - 2) + b"\0" * 20 + b"Z"


def test_binary_may_grow_into_installer_padding_up_to_capacity() -> None:
    data = b"A" + OLD + b"/lib\0" + b"\0" * 20 + b"Z"
    longer = OLD + b"-longer"
    out = replace_binary(data, OLD, longer, capacity=len(OLD) + 20)
    assert out == b"A" + longer + b"/lib\0" + b"\0" * 13 + b"Z"
    assert replace_binary(out, longer, OLD, capacity=len(OLD) + 20) == data


def test_binary_rewrites_several_prefixes_in_one_string() -> None:
    data = OLD + b"/lib:" + OLD + b"/lib64\0\0\0"
    padding = b"\0" * (2 * (len(OLD) - 2) + 2)
    assert replace_binary(data, OLD, b"/n", capacity=len(OLD)) == b"/n/lib:/n/lib64\0" + padding


def test_binary_prefix_longer_than_capacity_is_an_error() -> None:
    with pytest.raises(PrefixError, match="the new prefix is 30 bytes long but the binary has room for 13"):
        replace_binary(OLD + b"\0", OLD, b"/" + b"x" * 29, capacity=len(OLD))


def test_binary_string_without_room_to_grow_is_an_error() -> None:
    with pytest.raises(PrefixError, match="no room to grow"):
        replace_binary(OLD + b"\0Z", OLD, OLD + b"x", capacity=100)


def test_a_header_whose_interpreter_is_outside_the_prefix_is_not_rewritten() -> None:
    assert relocated_header(b"#!/usr/bin/env python\n", b"/p", b"/n") == (b"", 0)


def _apply(data: bytes, fields: list[tuple[int, int, list[bytes]]], new: bytes) -> bytes:
    out = bytearray(data)
    for offset, length, parts in fields:
        out[offset:offset + length] = render_field(parts, length, new)
    return bytes(out)


def test_fields_recorded_once_give_what_replace_binary_gives_after_every_move() -> None:
    data = b"\x7fELF\0" + OLD + b"/lib:" + OLD + b"/lib64\0\0\0\0" + b"-L" + OLD + b"\0" + b"\0" * 40 + b"tail"
    fields = binary_fields(data, OLD)
    assert [(offset, length) for offset, length, _ in fields] == [
        (5, len(OLD) * 2 + len(b"/lib:/lib64") + 4), (data.index(b"-L") + 2, len(OLD) + 41)]
    assert fields[0][2] == [b"", b"/lib:", b"/lib64"]
    current, old = data, OLD
    for new in (b"/n", b"/opt/envs/olde", b"/b"):
        expected = replace_binary(current, old, new, 40)
        assert _apply(current, fields, new) == expected
        current, old = expected, new


def test_recorded_fields_never_touch_bytes_that_only_look_like_the_prefix() -> None:
    data = OLD + b"/bin\0\0\0\0\0\0\0\0" + b"/x/data\0"
    fields = binary_fields(data, OLD)
    moved = _apply(data, fields, b"/x")
    assert moved == b"/x/bin" + b"\0" * (len(OLD) + 8 - 2) + b"/x/data\0"
    assert _apply(moved, fields, b"/y") == b"/y/bin" + b"\0" * (len(OLD) + 8 - 2) + b"/x/data\0"


def test_a_field_without_room_for_the_new_prefix_is_refused() -> None:
    data = OLD + b"\0"
    (offset, length, parts), = binary_fields(data, OLD)
    with pytest.raises(PrefixError, match="a string holding the prefix has no room to grow"):
        render_field(parts, length, OLD + b"x")


WIN_OLD = b"C:\\old\\env"


def test_windows_text_rewrites_all_three_spellings_in_their_own_spelling() -> None:
    data = b"a=C:\\old\\env\\x\nb=C:/old/env/y\nc={\"p\": \"C:\\\\old\\\\env\\\\z\"}\n"
    assert replace_windows_text(data, WIN_OLD, b"D:\\new place") == (
        b"a=D:\\new place\\x\nb=D:/new place/y\nc={\"p\": \"D:\\\\new place\\\\z\"}\n"
    )


def test_windows_text_compares_the_drive_letter_case_insensitively() -> None:
    assert replace_windows_text(b"c:\\old\\env c:/old/env", WIN_OLD, b"E:\\e") == b"E:\\e E:/e"


def test_windows_text_leaves_other_paths_and_other_case_elsewhere_alone() -> None:
    data = b"C:\\Old\\env C:\\other\\env"
    assert replace_windows_text(data, WIN_OLD, b"E:\\e") == data


def test_windows_binary_keeps_the_size_and_pads_with_nuls() -> None:
    data = b"\0C:/old/env/lib\0\0\0\0\0C:\\old\\env\0\0"
    out = replace_windows_binary(data, WIN_OLD, b"D:\\n", capacity=10)
    assert out == b"\0D:/n/lib\0\0\0\0\0\0\0\0\0\0\0D:\\n\0\0\0\0\0\0\0\0"
    assert len(out) == len(data)


def test_windows_fields_keep_each_spelling_and_give_what_replace_windows_binary_gives() -> None:
    data = b"\0c:/old/env/lib;C:\\old\\env\\bin" + b"\0" * 12 + b"C:\\\\old\\\\env\0" + b"\0" * 20
    fields = windows_binary_fields(data, WIN_OLD)
    assert [(parts, spellings) for (_, _, parts), spellings in fields] == [
        ([b"", b"/lib;", b"\\bin"], [2, 1]), ([b"", b""], [0])]
    current, old = data, WIN_OLD
    for new in (b"D:\\n", b"E:\\a longer\\x", b"C:\\old\\env"):
        out = bytearray(current)
        for (offset, length, parts), spellings in fields:
            out[offset:offset + length] = render_windows_field(parts, spellings, length, new)
        assert bytes(out) == replace_windows_binary(current, old, new, capacity=len(WIN_OLD) + 8)
        current, old = bytes(out), new
    assert current == data.replace(b"c:/", b"C:/")


def test_windows_prefix_spelling_is_backslashes_without_a_trailing_one() -> None:
    assert windows_prefix("Z:/tmp/env/") == "Z:\\tmp\\env"
    assert windows_prefix("C:/") == "C:\\"


def test_a_launcher_is_an_exe_with_a_shebang_and_a_zip() -> None:
    assert is_launcher(b"MZ\0\0" + b"#!C:\\env\\python.exe\r\n" + b"PK\x03\x04...PK\x05\x06" + b"\0" * 18)
    assert not is_launcher(b"MZ\0\0 C:\\env\\python.exe \0")


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("seed", range(4))
def test_text_rewritten_in_chunks_gives_the_bytes_of_replace_text(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(500):
        old = rng.choice([OLD, b"/x/x", b"aa", b"/a/b/c"])  # also prefixes that overlap themselves
        new = rng.choice([b"/n", b"/a/much/longer/new/prefix", b"aaa"])
        pieces = [b"/", b"x", b"a", b"\n", b" ", b"q", old]
        data = b"#!" + old + b"/bin/python\n" * rng.randrange(2) + b"".join(
            rng.choice(pieces) for _ in range(rng.randrange(1, 80)))
        size = rng.randrange(1, 16)
        assert holds(_chunks(data, size), old) == (old in data)
        if old in data:
            assert b"".join(replace_chunks(_chunks(data, size), old, new)) == replace_text(data, old, new)


def test_a_long_text_file_gets_its_interpreter_line_fixed_once() -> None:
    long_new = b"/" + b"n" * 150
    data = b"#!" + OLD + b"/bin/python3\n" + (b"x = '" + OLD + b"'\n") * (HEAD // 10)
    out = b"".join(replace_chunks(_chunks(data, 65536), OLD, long_new))
    assert out == replace_text(data, OLD, long_new)
    assert out.startswith(b"#!/bin/sh\n'''exec' '" + long_new + b"/bin/python3'")
