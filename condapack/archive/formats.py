"""Archive formats as a registry: names, aliases, suffixes, writer, compression, levels, threads.

Adding a format is one :class:`Format` entry in :data:`REGISTRY` plus its writer, a
``write_archive(request)`` function (:class:`condapack.archive.request.Writer`) that the
entry loads; inference from the output name, the ``--format`` choices, the level check,
the project file's format names and packing all read the entry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

import attrs

from ..errors import ArchiveError

if TYPE_CHECKING:
    from .request import Writer

__all__ = ["Format", "REGISTRY", "FORMATS", "ALIASES", "CHOICES", "INSTALLERS", "get_format", "infer_format",
           "extension", "compression_of", "compresses", "max_level", "check_level",
           "level_problem"]


# Each writer is imported when a format of it is written, not when the registry is read: the
# option schema and a no-op build read formats, and must not load compressors.
def _tar() -> Writer:
    from .tar import write_archive

    return write_archive


def _zip() -> Writer:
    from .zip import write_archive

    return write_archive


def _squashfs() -> Writer:
    from .squashfs import write_archive

    return write_archive


def _installer() -> Writer:
    from .installer import write_archive

    return write_archive


def _directory() -> Writer:
    from .directory import write_archive

    return write_archive


def _oci() -> Writer:
    from ..oci.image import write_archive

    return write_archive


@attrs.frozen
class Format:
    """One archive format.

    ``suffixes``: output names that select it (the first is the default; none for a
    directory). ``writer``: returns the function that writes it. ``compression``: the
    stream compression of a tar payload ('', gz, bz2, xz, zst). ``threads``: what ``-j``
    does for it. ``compresses``: whether the level changes the bytes.
    """

    name: str
    suffixes: tuple[str, ...]
    writer: Callable[[], Writer]
    threads: str
    compression: str = ""
    aliases: tuple[str, ...] = ()
    top_level: int = 9
    compresses: bool = True

    @property
    def container(self) -> str:
        """What a reader finds in the file: 'tar' (a tar stream in ``compression``), 'zip', or '' (other)."""
        return "tar" if self.writer is _tar else "zip" if self.writer is _zip else ""

    @property
    def self_installing(self) -> bool:
        """A POSIX shell script that unpacks its tar payload wherever it is run."""
        return self.writer is _installer


_BLOCKS = "compresses blocks of the stream in parallel"
_MEMBERS = "compresses members in parallel"

#: Every format, in the order output names are matched (``.xz.sh`` before ``.sh``).
REGISTRY: dict[str, Format] = {f.name: f for f in (
    # before tar: ``.oci.tar`` is an OCI archive; any other name without it, a layout directory
    Format("oci", (".oci.tar", ".oci"), _oci, "compresses blocks of each layer in parallel", "gz"),
    Format("tar.gz", (".tar.gz", ".tgz"), _tar, _BLOCKS, "gz", ("tgz",)),
    Format("tar.bz2", (".tar.bz2", ".tbz2"), _tar, _BLOCKS, "bz2", ("tbz2",)),
    Format("tar.xz", (".tar.xz", ".txz"), _tar, _BLOCKS, "xz", ("txz",)),
    Format("tar.zst", (".tar.zst", ".tzst"), _tar, _BLOCKS, "zst", ("tzst",), top_level=22),
    Format("tar", (".tar",), _tar, "ignored: nothing is compressed", compresses=False),
    Format("zip", (".zip",), _zip, _MEMBERS),
    Format("squashfs", (".squashfs",), _squashfs, "mksquashfs's processors"),
    Format("parcel", (".parcel",), _tar, _BLOCKS, "gz"),
    Format("sh.xz", (".xz.sh",), _installer, _BLOCKS, "xz"),
    Format("sh.zst", (".zst.sh",), _installer, _BLOCKS, "zst", top_level=22),
    Format("sh", (".sh",), _installer, _BLOCKS, "gz"),
    Format("no-archive", (), _directory, "ignored: files are copied", compresses=False),
)}
#: Canonical format name -> file name suffixes that select it (first is the default).
FORMATS: dict[str, tuple[str, ...]] = {name: f.suffixes for name, f in REGISTRY.items()}
#: Self-installing formats (a sh header and a tar payload).
INSTALLERS = frozenset(name for name, f in REGISTRY.items() if f.self_installing)
#: Alternative spellings accepted by ``--format``.
ALIASES = {alias: name for name, f in REGISTRY.items() for alias in f.aliases}
#: Values ``--format`` accepts.
CHOICES = ("infer", *FORMATS, *ALIASES)


def get_format(fmt: str) -> Format:
    """The registry entry of a canonical format name."""
    return REGISTRY[fmt]


def infer_format(output: Optional[str], fmt: str = "infer") -> str:
    """The canonical format for an output name and a ``--format`` value."""
    fmt = ALIASES.get(fmt, fmt)
    if fmt == "infer":
        if output is None:
            return "tar.gz"
        for name, suffixes in FORMATS.items():
            if suffixes and output.rstrip("/").endswith(suffixes):
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
    suffixes = REGISTRY[fmt].suffixes
    return suffixes[0] if suffixes else ""


def compression_of(fmt: str) -> str:
    """The stream compression of a tar-based format: '', 'gz', 'bz2', 'xz' or 'zst'."""
    return REGISTRY[fmt].compression


def compresses(fmt: str) -> bool:
    """Whether the level changes a format's bytes."""
    return REGISTRY[fmt].compresses


def max_level(fmt: str) -> int:
    """The highest compression level of a format: 22 for zstd, else 9."""
    return REGISTRY[fmt].top_level


def level_problem(fmt: str, level: int) -> Optional[str]:
    """What is wrong with a compression level for ``fmt`` (the flag's and the key's rule), or None."""
    top = max_level(fmt)
    return None if 0 <= level <= top else f"must be between 0 and {top} for {fmt}, got {level}"


def check_level(fmt: str, level: int) -> None:
    """Refuse a --compress-level the format cannot use."""
    problem = level_problem(fmt, level)
    if problem:
        raise ArchiveError(f"--compress-level {problem}")
