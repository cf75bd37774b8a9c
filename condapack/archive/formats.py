"""Archive formats: names, aliases, inference from the output name, level ranges."""

from __future__ import annotations

from typing import Optional

from ..errors import ArchiveError

__all__ = ["FORMATS", "CHOICES", "INSTALLERS", "infer_format", "extension", "compression_of", "compresses", "max_level", "check_level"]

#: Canonical format name -> file name suffixes that select it (first is the default).
FORMATS: dict[str, tuple[str, ...]] = {
    "tar.gz": (".tar.gz", ".tgz"),
    "tar.bz2": (".tar.bz2", ".tbz2"),
    "tar.xz": (".tar.xz", ".txz"),
    "tar.zst": (".tar.zst", ".tzst"),
    "tar": (".tar",),
    "zip": (".zip",),
    "squashfs": (".squashfs",),
    "parcel": (".parcel",),
    "sh.xz": (".xz.sh",),
    "sh.zst": (".zst.sh",),
    "sh": (".sh",),
    "no-archive": (),
}
#: Self-installing formats (a sh header and a tar payload) -> the payload's compression.
INSTALLERS = {"sh": "gz", "sh.xz": "xz", "sh.zst": "zst"}
#: Alternative spellings accepted by ``--format``.
ALIASES = {"tgz": "tar.gz", "tbz2": "tar.bz2", "txz": "tar.xz", "tzst": "tar.zst"}
#: Values ``--format`` accepts.
CHOICES = ("infer", *FORMATS, *ALIASES)


def infer_format(output: Optional[str], fmt: str = "infer") -> str:
    """The canonical format for an output name and a ``--format`` value."""
    fmt = ALIASES.get(fmt, fmt)
    if fmt == "infer":
        if output is None:
            return "tar.gz"
        for name, suffixes in FORMATS.items():
            if suffixes and output.endswith(suffixes):
                return name
        known = ", ".join(s for suffixes in FORMATS.values() for s in suffixes)
        raise ArchiveError(
            f"Unknown file extension of output {output!r}; use one of {known} or pass --format"
        )
    if fmt not in FORMATS:
        raise ArchiveError(f"Unknown format {fmt!r}; choose one of {', '.join(CHOICES)}")
    return fmt


def extension(fmt: str) -> str:
    """The default file name suffix of a format ('' for a directory)."""
    suffixes = FORMATS[fmt]
    return suffixes[0] if suffixes else ""


def compression_of(fmt: str) -> str:
    """The stream compression of a tar-based format: '', 'gz', 'bz2', 'xz' or 'zst'."""
    if fmt == "parcel":
        return "gz"
    if fmt in INSTALLERS:
        return INSTALLERS[fmt]
    return fmt[len("tar."):] if fmt.startswith("tar.") else ""


def compresses(fmt: str) -> bool:
    """Whether the level changes a format's bytes (``tar`` and ``no-archive`` store files as they are)."""
    return fmt not in ("tar", "no-archive")


def max_level(fmt: str) -> int:
    """The highest compression level of a format: 22 for zstd, else 9."""
    return 22 if compression_of(fmt) == "zst" else 9


def check_level(fmt: str, level: int) -> None:
    """Refuse a --compress-level the format cannot use."""
    top = max_level(fmt)
    if not 0 <= level <= top:
        raise ArchiveError(f"--compress-level must be between 0 and {top} for {fmt}, got {level}")
