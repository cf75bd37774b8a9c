"""The cache key of a target: its input digest plus everything else that changes its bytes.

Two machines agree on a key exactly when they would write identical bytes, so the key
names the versions of the code that writes each format: condapack itself and the
compression libraries that format uses (a ``tar.gz`` does not depend on zstd).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import shutil
import subprocess
import zlib
from importlib.metadata import PackageNotFoundError, version
from typing import Callable, Optional

from .._version import __version__
from ..archive.formats import compression_of

__all__ = ["artifact_key", "codec_versions"]

KEY_VERSION = 1


def _dist(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def _c_version(module_name: str, symbol: str) -> str:
    """A C library's own version string, asked of the stdlib extension linked to it."""
    try:
        module = __import__(module_name)
        function = getattr(ctypes.CDLL(module.__file__), symbol)
    except (ImportError, AttributeError, OSError):
        return "unknown"
    function.restype = ctypes.c_char_p
    return str(function().decode())


def _deflate() -> dict[str, str]:
    from zlib_ng import zlib_ng

    return {"isal": _dist("isal"), "deflate": _dist("deflate"), "zlib-ng": str(zlib_ng.ZLIBNG_RUNTIME_VERSION),
            "zlib": zlib.ZLIB_RUNTIME_VERSION}


def _zstd() -> dict[str, str]:
    import zstandard

    return {"zstandard": zstandard.__version__, "libzstd": ".".join(map(str, zstandard.ZSTD_VERSION))}


def _squashfs() -> dict[str, str]:
    tool = shutil.which("mksquashfs")
    if tool is None:
        return {"mksquashfs": "missing"}
    out = subprocess.run([tool, "-version"], capture_output=True, text=True, check=False).stdout
    return {"mksquashfs": out.splitlines()[0] if out else "unknown"}


_CODECS: dict[str, Callable[[], dict[str, str]]] = {
    "gz": _deflate,
    "zip": _deflate,
    "bz2": lambda: {"libbz2": _c_version("_bz2", "BZ2_bzlibVersion")},
    "xz": lambda: {"liblzma": _c_version("_lzma", "lzma_version_string")},
    "zst": _zstd,
    "squashfs": _squashfs,
}


@functools.lru_cache(maxsize=None)
def codec_versions(fmt: str) -> tuple[tuple[str, str], ...]:
    """The libraries (name, version) whose output ends up in an archive of ``fmt``."""
    codec = fmt if fmt in ("zip", "squashfs") else compression_of(fmt)
    found = _CODECS.get(codec)
    return tuple(sorted(found().items())) if found else ()


def artifact_key(input_digest: str, fmt: str, level: Optional[int]) -> str:
    """The cache key of a target with this lock input digest, format and level."""
    doc = {"key": KEY_VERSION, "input": input_digest, "condapack": __version__, "format": fmt,
           "level": level, "libraries": dict(codec_versions(fmt))}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
