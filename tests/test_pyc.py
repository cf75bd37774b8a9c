"""Pin that normalised archive mtimes keep timestamp-based .pyc files valid."""

from __future__ import annotations

import struct

from condapack.pyc import restamp

MAGIC = b"\xa7\r\r\n"


def _pyc(flags: int, mtime: int, size: int) -> bytes:
    return MAGIC + struct.pack("<III", flags, mtime, size) + b"code"


def test_valid_timestamp_pyc_gets_the_new_mtime() -> None:
    assert restamp(_pyc(0, 1000, 42), 1000, 42, 2000) == _pyc(0, 2000, 42)


def test_stale_pyc_is_left_stale() -> None:
    data = _pyc(0, 999, 42)
    assert restamp(data, 1000, 42, 2000) == data


def test_hash_based_pyc_is_untouched() -> None:
    data = _pyc(1, 1000, 42)
    assert restamp(data, 1000, 42, 2000) == data


def test_truncated_pyc_is_untouched() -> None:
    assert restamp(b"abc", 1, 1, 2) == b"abc"
