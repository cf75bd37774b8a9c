"""The size report as plain records: where an environment's or an archive's bytes go."""

from __future__ import annotations

from typing import Literal, Optional

import attrs

__all__ = ["Item", "Share", "Saving", "SizeReport", "UNMANAGED", "CONDA_META", "GENERATED", "OTHER"]

#: Pseudo-packages for files no package record claims.
UNMANAGED = "(unmanaged)"
CONDA_META = "(conda-meta)"
GENERATED = "(condapack)"
#: The kind of a file no preset describes.
OTHER = "other"


@attrs.frozen
class Item:
    """One file of an environment, or one member of an archive."""

    path: str
    #: Bytes on disk (the member's uncompressed size in an archive).
    size: int
    #: Bytes it takes in the archive (its compressed share); ``size`` for an environment.
    stored: int
    package: str
    kind: str


@attrs.frozen
class Share:
    """A group of items (a package, a kind of file, a directory) and what it holds."""

    name: str
    files: int
    size: int
    stored: int
    version: str = ""


@attrs.frozen
class Saving:
    """What one slimming preset or ``--exclude`` pattern would remove (or removed)."""

    rule: str
    files: int
    size: int
    stored: int
    packages: tuple[Share, ...]
    #: Files the rule matches that a guard rail keeps, with the reason.
    kept: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class SizeReport:
    """Everything ``condapack size`` shows; totals add up exactly over packages and kinds."""

    source: str
    what: Literal["environment", "archive"]
    format: Optional[str]
    files: int
    size: int
    stored: int
    #: Archive bytes outside every member (tar end blocks, the zip central directory).
    overhead: int
    packages: tuple[Share, ...]
    kinds: tuple[Share, ...]
    largest_files: tuple[Item, ...]
    largest_dirs: tuple[Share, ...]
    savings: tuple[Saving, ...] = ()
    #: What slimming removed when the archive was packed (from its metadata).
    removed: Optional[Saving] = None
    items: tuple[Item, ...] = attrs.field(default=(), repr=False)
