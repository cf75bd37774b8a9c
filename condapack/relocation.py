"""What conda-unpack needs inside an archive: the files to relocate and how.

Decided at pack time, as plain data written into ``conda-meta/condapack/``:

- ``unpack.json`` for the Python implementation and ``unpack.txt`` for the POSIX shell
  one: the same list of files, each text or binary. A binary entry carries its fields
  (offset, length and the bytes around the prefix of every C string holding it), found
  here once, so both implementations overwrite the same bytes and never search.
- ``prefix``: the location the files hold now, rewritten by every run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Mapping, Sequence

import attrs

from .errors import RelocationError
from .layout import CONDAPACK_DIR, LAYOUT
from .prefix import File
from .records import PrefixMode
from .rewrite import Field, binary_fields

__all__ = ["Relocatable", "relocatables", "unpack_files", "printf_escape", "SHIPPED_MODULES"]

_SCRIPTS = Path(__file__).parent / "scripts"
#: Stdlib-only modules of the package that conda-unpack imports beside unpack.py.
SHIPPED_MODULES = ("rewrite.py", "safepath.py")
# Bytes a printf format (and a word split by the shell) may hold as they are.
_SAFE = re.compile(rb"[A-Za-z0-9._/+=@,~]")


@attrs.frozen
class Relocatable:
    """One file conda-unpack rewrites; binaries with their fields."""

    path: str
    mode: PrefixMode
    capacity: int = 0
    fields: tuple[Field, ...] = ()


def relocatables(prefix: Path, files: Sequence[File], generated: Sequence[str]) -> list[Relocatable]:
    """The environment's files holding the prefix, plus the generated text files, sorted."""
    old = str(prefix).encode()
    out = [Relocatable(path, "text") for path in generated]
    for f in files:
        if f.file_mode is None or f.kind != "file" or f.target in generated:
            continue
        if f.file_mode == "text":
            out.append(Relocatable(f.target, "text"))
        else:
            out.append(Relocatable(f.target, "binary", f.capacity, tuple(_fields(f, old))))
    return sorted(out, key=lambda r: r.path)


def _fields(f: File, old: bytes) -> list[Field]:
    try:
        with open(f.source, "rb") as fh:
            return binary_fields(fh.read(), old)
    except OSError as exc:
        raise RelocationError(f"{f.source}: cannot be read ({exc.strerror}); fix its permissions "
                              "or exclude it") from None


def printf_escape(data: bytes) -> str:
    """``data`` as a printf format that prints it: safe bytes as they are, others octal."""
    return "".join(chr(b) if _SAFE.match(bytes((b,))) else "%%" if b == 0x25 else f"\\{b:03o}" for b in data)


def _json_manifest(items: Sequence[Relocatable]) -> bytes:
    files = [[r.path, r.mode, r.capacity, [[off, length, [p.hex() for p in parts]]
                                           for off, length, parts in r.fields]] for r in items]
    return json.dumps({"version": 2, "files": files}, indent=1, sort_keys=True).encode()


def _text_manifest(items: Sequence[Relocatable]) -> bytes:
    """One line per file: ``t NAME`` or ``b NAME CAPACITY OFFSET:LENGTH:FIXED:COUNT:FORMAT...``."""
    lines = []
    for r in items:
        name = printf_escape(r.path.encode("utf-8", "surrogateescape"))
        if r.mode == "text":
            lines.append(f"t {name}")
            continue
        fields = " ".join(f"{off}:{length}:{sum(map(len, parts))}:{len(parts) - 1}:"
                          + "%s".join(printf_escape(p) for p in parts) for off, length, parts in r.fields)
        lines.append(f"b {name} {r.capacity} {fields}".rstrip())
    return "".join(line + "\n" for line in lines).encode()


def unpack_files(prefix: Path, items: Sequence[Relocatable]) -> Mapping[str, tuple[bytes, int]]:
    """The generated files of conda-unpack: path relative to the env -> (content, mode)."""
    return {
        f"{CONDAPACK_DIR}/unpack.json": (_json_manifest(items), 0o644),
        f"{CONDAPACK_DIR}/unpack.txt": (_text_manifest(items), 0o644),
        f"{CONDAPACK_DIR}/prefix": (str(prefix).encode("utf-8", "surrogateescape"), 0o644),
        f"{CONDAPACK_DIR}/unpack.py": ((_SCRIPTS / "unpack.py").read_bytes(), 0o644),
        f"{CONDAPACK_DIR}/unpack.sh": ((_SCRIPTS / "unpack.sh").read_bytes(), 0o644),
        **{f"{CONDAPACK_DIR}/{module}": ((Path(__file__).parent / module).read_bytes(), 0o644)
           for module in SHIPPED_MODULES},
        LAYOUT.unpack_script: ((_SCRIPTS / "conda-unpack.sh").read_bytes(), 0o755),
    }
