"""What conda-unpack needs inside an archive: the files to relocate and how.

Decided at pack time, as plain data written into ``conda-meta/condapack/``:

- ``unpack.txt``, the manifest both implementations read (its format:
  :mod:`condapack.unpack.manifest`): the files holding the prefix, each text or binary. A
  binary entry carries its fields (offset, length and the bytes around the prefix of every
  C string holding it), found here once, so both implementations overwrite the same bytes
  and never search. A Windows environment's files hold the prefix in three spellings, so
  its manifest says ``windows`` and each binary field also records the spelling at each
  of its prefixes (conda-unpack there is always the Python one, run by
  ``Scripts\\conda-unpack.exe``).
- ``prefix``: the location the files hold now, rewritten by every run.
- ``unpack/``: the package :mod:`condapack.unpack`, and beside it ``unpack.sh``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import attrs

from . import winlaunch
from ._version import __version__
from .errors import RelocationError
from .layout import CONDAPACK_DIR, Layout
from .prefix import File
from .records import PrefixMode
from .unpack.manifest import Entry, Manifest, render
from .unpack.rewrite import binary_fields, windows_binary_fields

if TYPE_CHECKING:
    from .unpack.rewrite import Field

__all__ = ["Relocatable", "relocatables", "unpack_files", "script_bytes", "PAYLOAD", "SHIPPED_MODULES"]

#: The unpack payload: the package ``condapack.unpack``, with the sh scripts beside it.
PAYLOAD = Path(__file__).parent / "unpack"
#: Its modules, shipped as the package ``conda-meta/condapack/unpack/``.
SHIPPED_MODULES = tuple(sorted(path.name for path in PAYLOAD.glob("*.py") if path.stem.isidentifier()))
#: Replaced in the shipped scripts by this condapack's version.
_VERSION_MARK = b"@CONDAPACK_VERSION@"
#: Replaced in unpack.sh and the installer by unpack/location.sh.
_LOCATION_MARK = b"# @LOCATION_SH@\n"


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


def _manifest(items: Sequence[Relocatable], windows: bool) -> bytes:
    return render(Manifest([Entry(r.path, r.mode, r.capacity, r.fields, r.spellings) for r in items], windows))


def unpack_files(home: str, items: Sequence[Relocatable], layout: Layout) -> Mapping[str, tuple[bytes, int]]:
    """The generated files of conda-unpack: path relative to the env -> (content, mode)."""
    out = {
        f"{CONDAPACK_DIR}/unpack.txt": (_manifest(items, layout.windows), 0o644),
        f"{CONDAPACK_DIR}/prefix": (home.encode("utf-8", "surrogateescape"), 0o644),
        **{f"{CONDAPACK_DIR}/unpack/{module}": (script_bytes(PAYLOAD / module), 0o644) for module in SHIPPED_MODULES},
    }
    if layout.windows:
        (helper,) = layout.unpack_helpers
        out[layout.unpack_script] = (winlaunch.unpack_launcher(), 0o755)
        out[helper] = (script_bytes(PAYLOAD / "conda-unpack-script.py"), 0o644)
    else:
        out[f"{CONDAPACK_DIR}/unpack.sh"] = (script_bytes(PAYLOAD / "unpack.sh"), 0o644)
        out[layout.unpack_script] = (script_bytes(PAYLOAD / "conda-unpack.sh"), 0o755)
    return out


def script_bytes(path: Path) -> bytes:
    """A shipped script: LF line ends (a checkout on Windows may have CRLF; the archive
    must not depend on it), the version that packed it (for --version), and the shared
    sh location check pasted in where its mark stands."""
    def lf(script: Path) -> bytes:
        return script.read_bytes().replace(b"\r\n", b"\n")
    return lf(path).replace(_VERSION_MARK, __version__.encode()).replace(_LOCATION_MARK, lf(PAYLOAD / "location.sh"))
