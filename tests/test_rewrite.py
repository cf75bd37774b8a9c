"""Pin the pure prefix-rewriting functions shipped inside every archive."""

from __future__ import annotations

import pytest

from condapack.rewrite import (
    SHEBANG_LIMIT,
    PrefixError,
    fix_shebang,
    make_shebang,
    parse_shebang,
    replace_binary,
    replace_text,
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
    assert out == (b"#!/bin/sh\n'''exec' \"" + new + b"/bin/python\" -E \"$0\" \"$@\"\n' '''\nprint(1)\n")


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
    assert replace_binary(data, OLD, b"/n", capacity=len(OLD)) == b"/n/lib:/n/lib64\0" + b"\0" * (2 * (len(OLD) - 2) + 2)


def test_binary_prefix_longer_than_capacity_is_an_error() -> None:
    with pytest.raises(PrefixError, match="the new prefix is 30 bytes long but the binary has room for 13"):
        replace_binary(OLD + b"\0", OLD, b"/" + b"x" * 29, capacity=len(OLD))


def test_binary_string_without_room_to_grow_is_an_error() -> None:
    with pytest.raises(PrefixError, match="no room to grow"):
        replace_binary(OLD + b"\0Z", OLD, OLD + b"x", capacity=100)


def test_fix_shebang_ignores_interpreters_outside_the_prefix() -> None:
    data = b"#!/usr/bin/env python\n"
    assert fix_shebang(data, b"/p") is data
