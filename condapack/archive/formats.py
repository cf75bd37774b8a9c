"""Archive formats: names, aliases and inference from the output file name."""

from __future__ import annotations

from typing import Optional

from ..errors import ArchiveError

__all__ = ["FORMATS", "CHOICES", "infer_format", "extension"]

#: Canonical format name -> file name suffixes that select it (first is the default).
FORMATS: dict[str, tuple[str, ...]] = {
    "tar.gz": (".tar.gz", ".tgz"),
    "tar": (".tar",),
    "zip": (".zip",),
}
#: Alternative spellings accepted by ``--format``.
ALIASES = {"tgz": "tar.gz"}
#: Values ``--format`` accepts.
CHOICES = ("infer", *FORMATS, *ALIASES)


def infer_format(output: Optional[str], fmt: str = "infer") -> str:
    """The canonical format for an output name and a ``--format`` value."""
    fmt = ALIASES.get(fmt, fmt)
    if fmt == "infer":
        if output is None:
            return "tar.gz"
        for name, suffixes in FORMATS.items():
            if output.endswith(suffixes):
                return name
        known = ", ".join(s for suffixes in FORMATS.values() for s in suffixes)
        raise ArchiveError(
            f"Unknown file extension of output {output!r}; use one of {known} or pass --format"
        )
    if fmt not in FORMATS:
        raise ArchiveError(f"Unknown format {fmt!r}; choose one of {', '.join(CHOICES)}")
    return fmt


def extension(fmt: str) -> str:
    """The default file name suffix of a format."""
    return FORMATS[fmt][0]
