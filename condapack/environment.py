"""The environment object of the public API: files to pack, filtered, then packed.

Its surface is conda-pack 0.9.2's, signature for signature (``str`` prefix, positional
``pack``, ``from_prefix(**kwargs)``); behind it the typed internals take over:
:class:`condapack.options.PackOptions` and :func:`condapack.packing.pack_files`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Iterable, Iterator, Literal, Optional

import attrs

from .errors import CondaPackError, EnvError
from .filters import Filter, apply_filters
from .layout import LAYOUT
from .locate import find_prefix
from .options import PackOptions
from .packing import Packed, ProgressFn, pack_files
from .prefix import File, Scan, _Place, _sniffed, read_prefix, scan_reading, without_path_data
from .records import PackageRecord

__all__ = ["CondaEnv", "MissingCache", "completed"]

#: conda-pack's ``on_missing_cache``: what to do about packages it cannot classify by metadata.
MissingCache = Literal["warn", "raise", "ignore"]


@attrs.frozen(init=False)
class CondaEnv:
    """A conda environment and the files that will be packed from it.

    ``CondaEnv(prefix, files, excluded_files=None)`` is conda-pack's constructor; the
    package records and the prefix as the files spell it are keyword-only after it.
    ``exclude`` and ``include`` return new objects; nothing is read again.
    """

    prefix: str
    files: tuple[File, ...]
    excluded_files: tuple[File, ...]
    packages: tuple[PackageRecord, ...]
    #: The prefix as the files spell it ("": ``prefix``); see :mod:`condapack.installed`.
    home: str

    def __init__(self, prefix: str | os.PathLike[str], files: Iterable[File],
                 excluded_files: Optional[Iterable[File]] = None, *,
                 packages: Iterable[PackageRecord] = (), home: str = "") -> None:
        self.__attrs_init__(os.fspath(prefix), tuple(sorted(files, key=_target)), tuple(excluded_files or ()),
                            tuple(packages), home)

    @classmethod
    def from_prefix(cls, prefix: str | os.PathLike[str], *, on_missing_cache: MissingCache = "warn",
                    ignore_editable_packages: bool = False, ignore_missing_files: bool = False) -> CondaEnv:
        """Read the environment at ``prefix``.

        ``on_missing_cache="raise"`` refuses packages whose files can be classified by
        neither their record nor the package cache (conda-pack's uncached packages).
        """
        _check_missing_cache(on_missing_cache)
        reading = read_prefix(find_prefix(prefix=prefix))
        if on_missing_cache == "raise":
            _refuse_unclassified(reading.packages)
        return cls.from_scan(scan_reading(reading, ignore_editable_packages=ignore_editable_packages,
                                          ignore_missing_files=ignore_missing_files))

    @classmethod
    def from_scan(cls, scan: Scan) -> CondaEnv:
        """The environment as :func:`condapack.prefix.scan_reading` classified it."""
        home = scan.home if scan.home != str(scan.prefix) else ""
        return cls(scan.prefix, scan.files, packages=scan.packages, home=home)

    @classmethod
    def read(cls, prefix: str | os.PathLike[str], options: PackOptions) -> CondaEnv:
        """Read the environment at ``prefix`` with the checks ``options`` asks for."""
        return cls.from_prefix(prefix, ignore_editable_packages=options.ignore_editable_packages,
                               ignore_missing_files=options.ignore_missing_files)

    @classmethod
    def from_name(cls, name: str, *, on_missing_cache: MissingCache = "warn", ignore_editable_packages: bool = False,
                  ignore_missing_files: bool = False) -> CondaEnv:
        """Read a named environment."""
        return cls.from_prefix(find_prefix(name=name), on_missing_cache=on_missing_cache,
                               ignore_editable_packages=ignore_editable_packages,
                               ignore_missing_files=ignore_missing_files)

    @classmethod
    def from_default(cls, *, on_missing_cache: MissingCache = "warn", ignore_editable_packages: bool = False,
                     ignore_missing_files: bool = False) -> CondaEnv:
        """Read the active environment (``CONDA_PREFIX``)."""
        return cls.from_prefix(find_prefix(), on_missing_cache=on_missing_cache,
                               ignore_editable_packages=ignore_editable_packages,
                               ignore_missing_files=ignore_missing_files)

    @property
    def name(self) -> str:
        """The environment's directory name."""
        return os.path.basename(self.prefix)

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[File]:
        return iter(self.files)

    def __repr__(self) -> str:
        return f"CondaEnv<{self.prefix!r}, {len(self)} files>"

    def exclude(self, pattern: str) -> CondaEnv:
        """A copy without the files whose path matches the shell glob ``pattern``."""
        return self.filtered([("exclude", pattern)])

    def include(self, pattern: str) -> CondaEnv:
        """A copy with excluded files matching ``pattern`` added back."""
        return self.filtered([("include", pattern)])

    def filtered(self, filters: Iterable[Filter]) -> CondaEnv:
        """A copy with ``(kind, pattern)`` filters applied in order (conda-pack semantics)."""
        kept, dropped = apply_filters(self.files, self.excluded_files, filters, key=_target)
        return attrs.evolve(self, files=kept, excluded_files=dropped)

    def pack(self, output: Optional[str] = None, format: str = "infer", arcroot: str = "",
             dest_prefix: Optional[str] = None, parcel_root: Optional[str] = None, parcel_name: Optional[str] = None,
             parcel_version: Optional[str] = None, parcel_distro: Optional[str] = None, verbose: bool = False,
             force: bool = False, compress_level: int = 4, n_threads: Optional[int] = 1, zip_symlinks: bool = False,
             zip_64: bool = True, *, progress: Optional[ProgressFn] = None) -> str:
        """Pack into an archive; return its absolute path (conda-pack's parameters).

        ``n_threads`` defaults to 1 as in conda-pack; -1 is every cpu, None condapack's
        default (every cpu up to 8). The bytes never depend on it.
        """
        options = PackOptions(output=output, format=format, arcroot=arcroot, dest_prefix=dest_prefix,
                              parcel_root=parcel_root, parcel_name=parcel_name, parcel_version=parcel_version,
                              parcel_distro=parcel_distro, force=force, compress_level=compress_level,
                              n_threads=n_threads, zip_symlinks=zip_symlinks, zip_64=zip_64)
        return str(self.pack_with(options, progress=progress, verbose=verbose).output)

    def pack_with(self, options: PackOptions, *, progress: Optional[ProgressFn] = None,
                  verbose: bool = False) -> Packed:
        """Pack with an options object; ``verbose`` reports progress on stderr."""
        prefix, files = Path(self.prefix), completed(self.prefix, self.files)
        if verbose and progress is None:
            from .report import Reporter

            with Reporter(enabled=True) as reporter:
                return pack_files(prefix, files, options, reporter.progress, self.packages, self.home)
        return pack_files(prefix, files, options, progress, self.packages, self.home)


def _target(f: File) -> str:
    return f.target


def _check_missing_cache(value: str) -> None:
    if value not in ("warn", "raise", "ignore"):
        raise CondaPackError(f"on_missing_cache must be 'warn', 'raise' or 'ignore', got {value!r}")


def _refuse_unclassified(packages: tuple[PackageRecord, ...]) -> None:
    """conda-pack's ``on_missing_cache="raise"``: packages known only by their list of files."""
    blind = without_path_data(packages)
    if blind:
        raise EnvError(f"{len(blind)} packages have no path data in conda-meta and no package cache entry "
                       f"({', '.join(blind)}); reinstall them, or pass on_missing_cache='warn' to pack them "
                       "with their files checked for the prefix by content")


def completed(prefix: str, files: tuple[File, ...]) -> tuple[File, ...]:
    """``files`` with each caller-built :class:`File` read from its ``source``, as conda-pack
    reads it when packing: its kind, mode, size and time; ``file_mode="unknown"`` resolved by
    looking for the prefix in its bytes. Files a scan read (they carry ``root``) are kept."""
    if all(f.root for f in files):
        return files
    place = _Place(Path(prefix), prefix, LAYOUT, prefix)
    return tuple(f if f.root else _completed(place, f) for f in files)


def _completed(place: _Place, f: File) -> File:
    try:
        st = os.lstat(f.source)
        link = os.readlink(f.source) if stat.S_ISLNK(st.st_mode) else None
    except OSError as exc:
        raise EnvError(f"File({f.source!r}, {f.target!r}): cannot read {f.source}: {exc.strerror}; "
                       "give an existing source path") from None
    if link is not None:
        return attrs.evolve(f, kind="symlink", mode=0o777, mtime_ns=st.st_mtime_ns, link_target=link, file_mode=None)
    if stat.S_ISDIR(st.st_mode):
        return attrs.evolve(f, kind="dir", mode=0o755, file_mode=None)
    read = attrs.evolve(f, mode=stat.S_IMODE(st.st_mode), size=st.st_size, mtime_ns=st.st_mtime_ns)
    if f.file_mode == "unknown":
        return _sniffed(place, attrs.evolve(read, file_mode=None, prefix_placeholder=None))
    if f.file_mode is None:
        return read
    return _declared_prefix(place.home, read)


def _declared_prefix(home: str, f: File) -> File:
    """A caller-built file said to hold the prefix: condapack relocates files that hold the
    environment's own prefix (the conda-unpack manifest records one old prefix)."""
    placeholder = f.prefix_placeholder or home
    if placeholder != home:
        raise CondaPackError(
            f"File({f.source!r}, {f.target!r}): prefix_placeholder {placeholder!r} is not the environment's "
            f"prefix {home!r}; condapack relocates files that hold the environment's prefix: rewrite the "
            "placeholder to it first, or pass file_mode='unknown' to have the file checked for the prefix")
    capacity = len(home.encode()) if f.file_mode == "binary" else 0
    return attrs.evolve(f, prefix_placeholder=home, capacity=capacity)
