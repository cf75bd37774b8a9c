"""What conda-unpack needs inside an archive: the files to relocate and how.

Decided at pack time, as plain data written into ``conda-meta/condapack/``:

- ``unpack.json`` for the Python implementation and ``unpack.txt`` for the POSIX shell
  one: the same list of files, each text or binary. A binary entry carries its fields
  (offset, length and the bytes around the prefix of every C string holding it), found
  here once, so both implementations overwrite the same bytes and never search.
- ``prefix``: the location the files hold now, rewritten by every run.

A Windows environment gets ``unpack.json`` only (conda-unpack there is always the Python
one, run by ``Scripts\\conda-unpack.exe``): its files hold the prefix in three spellings,
so it is marked ``"windows": true`` and each binary field also records the spelling at
each of its prefixes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import attrs

from . import winlaunch
from ._version import __version__
from .errors import RelocationError
from .layout import CONDAPACK_DIR, Layout
from .prefix import File
from .records import PrefixMode
from .rewrite import binary_fields, windows_binary_fields

if TYPE_CHECKING:
    from .rewrite import Field

__all__ = ["Relocatable", "relocatables", "unpack_files", "printf_escape", "script_bytes", "SHIPPED_MODULES"]

_SCRIPTS = Path(__file__).parent / "scripts"
#: Replaced in the shipped scripts by this condapack's version.
_VERSION_MARK = b"@CONDAPACK_VERSION@"
#: Replaced in unpack.sh and the installer by scripts/location.sh.
_LOCATION_MARK = b"# @LOCATION_SH@\n"
#: Stdlib-only modules of the package that conda-unpack imports beside unpack.py.
SHIPPED_MODULES = ("quoting.py", "rewrite.py", "safepath.py")
#: The modules of conda-unpack beside unpack.py (in scripts/).
_UNPACK_MODULES = ("inplace.py", "journal.py")
# Bytes a printf format (and a word split by the shell) may hold as they are.
_SAFE = re.compile(rb"[A-Za-z0-9._/+=@,~]")


@attrs.frozen
class Relocatable:
    """One file conda-unpack rewrites; binaries with their fields."""

    path: str
    mode: PrefixMode
    capacity: int = 0
    fields: tuple[Field, ...] = ()
    #: Windows only: per field, the spelling (index into ``windows_forms``) at each split.
    spellings: tuple[tuple[int, ...], ...] = ()


def relocatables(home: str, files: Sequence[File], generated: Sequence[str],
                 windows: bool = False) -> list[Relocatable]:
    """The environment's files holding the prefix ``home`` (as its files spell it), plus
    the generated text files, sorted."""
    out = [Relocatable(path, "text") for path in generated]
    for f in files:
        if f.file_mode in (None, "unknown") or f.kind != "file" or f.target in generated:
            continue
        if f.file_mode == "text":
            out.append(Relocatable(f.target, "text"))
        else:
            out.append(_binary(f, home.encode(), windows))
    return sorted(out, key=lambda r: r.path)


def _binary(f: File, old: bytes, windows: bool) -> Relocatable:
    data = _read(f)
    if not windows:
        return Relocatable(f.target, "binary", f.capacity, tuple(binary_fields(data, old)))
    found = windows_binary_fields(data, old)
    return Relocatable(f.target, "binary", f.capacity, tuple(field for field, _ in found),
                       tuple(tuple(spellings) for _, spellings in found))


def _read(f: File) -> bytes:
    try:
        with open(f.source, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise RelocationError(f"{f.source}: cannot be read ({exc.strerror}); fix its permissions "
                              "or exclude it") from None


def printf_escape(data: bytes) -> str:
    """``data`` as a printf format that prints it: safe bytes as they are, others octal."""
    return "".join(chr(b) if _SAFE.match(bytes((b,))) else "%%" if b == 0x25 else f"\\{b:03o}" for b in data)


def _json_manifest(items: Sequence[Relocatable], windows: bool) -> bytes:
    files = [[r.path, r.mode, r.capacity, _json_fields(r)] for r in items]
    manifest: dict[str, object] = {"version": 2, "files": files}
    if windows:
        manifest["windows"] = True
    return json.dumps(manifest, indent=1, sort_keys=True).encode()


def _json_fields(r: Relocatable) -> list[list[object]]:
    """``[offset, length, parts as hex]`` per field, plus the spellings on Windows."""
    fields: list[list[object]] = [[off, length, [p.hex() for p in parts]] for off, length, parts in r.fields]
    for field, spellings in zip(fields, r.spellings):
        field.append(list(spellings))
    return fields


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


def unpack_files(home: str, items: Sequence[Relocatable], layout: Layout) -> Mapping[str, tuple[bytes, int]]:
    """The generated files of conda-unpack: path relative to the env -> (content, mode)."""
    out = {
        f"{CONDAPACK_DIR}/unpack.json": (_json_manifest(items, layout.windows), 0o644),
        f"{CONDAPACK_DIR}/prefix": (home.encode("utf-8", "surrogateescape"), 0o644),
        f"{CONDAPACK_DIR}/unpack.py": (script_bytes(_SCRIPTS / "unpack.py"), 0o644),
        **{f"{CONDAPACK_DIR}/{script}": (script_bytes(_SCRIPTS / script), 0o644) for script in _UNPACK_MODULES},
        **{f"{CONDAPACK_DIR}/{module}": (script_bytes(Path(__file__).parent / module), 0o644)
           for module in SHIPPED_MODULES},
    }
    if layout.windows:
        (helper,) = layout.unpack_helpers
        out[layout.unpack_script] = (winlaunch.unpack_launcher(), 0o755)
        out[helper] = (script_bytes(_SCRIPTS / "conda-unpack-script.py"), 0o644)
    else:
        out[f"{CONDAPACK_DIR}/unpack.txt"] = (_text_manifest(items), 0o644)
        out[f"{CONDAPACK_DIR}/unpack.sh"] = (script_bytes(_SCRIPTS / "unpack.sh"), 0o644)
        out[layout.unpack_script] = (script_bytes(_SCRIPTS / "conda-unpack.sh"), 0o755)
    return out


def script_bytes(path: Path) -> bytes:
    """A shipped script: LF line ends (a checkout on Windows may have CRLF; the archive
    must not depend on it), the version that packed it (for --version), and the shared
    sh location check pasted in where its mark stands."""
    def lf(script: Path) -> bytes:
        return script.read_bytes().replace(b"\r\n", b"\n")
    return lf(path).replace(_VERSION_MARK, __version__.encode()).replace(_LOCATION_MARK, lf(_SCRIPTS / "location.sh"))
