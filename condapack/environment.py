"""The environment object of the public API: files to pack, filtered, then packed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

import attrs

from .filters import Filter, apply_filters
from .locate import find_prefix
from .options import PackOptions
from .packing import Packed, ProgressFn, pack_files
from .prefix import File, Scan, scan_prefix
from .records import PackageRecord

__all__ = ["CondaEnv"]


@attrs.frozen
class CondaEnv:
    """A conda environment and the files that will be packed from it.

    ``exclude`` and ``include`` return new objects; nothing is read again.
    """

    prefix: Path
    files: tuple[File, ...]
    packages: tuple[PackageRecord, ...] = ()
    excluded: tuple[File, ...] = ()
    #: The prefix as the files spell it ("": ``prefix``); see :mod:`condapack.installed`.
    home: str = ""

    @classmethod
    def from_prefix(cls, prefix: str | os.PathLike[str], *, ignore_editable_packages: bool = False,
                    ignore_missing_files: bool = False) -> CondaEnv:
        """Read the environment at ``prefix``."""
        path = find_prefix(prefix=prefix)
        return cls.from_scan(scan_prefix(path, ignore_editable_packages=ignore_editable_packages,
                                         ignore_missing_files=ignore_missing_files))

    @classmethod
    def from_scan(cls, scan: Scan) -> CondaEnv:
        """The environment as :func:`condapack.prefix.scan_reading` classified it."""
        home = scan.home if scan.home != str(scan.prefix) else ""
        return cls(prefix=scan.prefix, files=scan.files, packages=scan.packages, home=home)

    @classmethod
    def read(cls, prefix: str | os.PathLike[str], options: PackOptions) -> CondaEnv:
        """Read the environment at ``prefix`` with the checks ``options`` asks for."""
        return cls.from_prefix(prefix, ignore_editable_packages=options.ignore_editable_packages,
                               ignore_missing_files=options.ignore_missing_files)

    @classmethod
    def from_name(cls, name: str, **kwargs: bool) -> CondaEnv:
        """Read a named environment."""
        return cls.from_prefix(find_prefix(name=name), **kwargs)

    @classmethod
    def from_default(cls, **kwargs: bool) -> CondaEnv:
        """Read the active environment (``CONDA_PREFIX``)."""
        return cls.from_prefix(find_prefix(), **kwargs)

    @property
    def name(self) -> str:
        """The environment's directory name."""
        return self.prefix.name

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[File]:
        return iter(self.files)

    def __repr__(self) -> str:
        return f"CondaEnv<{str(self.prefix)!r}, {len(self)} files>"

    def exclude(self, pattern: str) -> CondaEnv:
        """A copy without the files whose path matches the shell glob ``pattern``."""
        return self._filtered("exclude", pattern)

    def include(self, pattern: str) -> CondaEnv:
        """A copy with excluded files matching ``pattern`` added back."""
        return self._filtered("include", pattern)

    def _filtered(self, kind: str, pattern: str) -> CondaEnv:
        return self.filtered([(kind, pattern)])

    def filtered(self, filters: Iterable[Filter]) -> CondaEnv:
        """A copy with ``(kind, pattern)`` filters applied in order (conda-pack semantics)."""
        kept, dropped = apply_filters(self.files, self.excluded, filters, key=lambda f: f.target)
        return attrs.evolve(self, files=tuple(sorted(kept, key=lambda f: f.target)), excluded=tuple(dropped))

    def pack(self, *, verbose: bool = False, progress: Optional[ProgressFn] = None, **options: Any) -> str:
        """Pack into an archive; return its path.

        ``options`` are the fields of :class:`condapack.options.PackOptions` (conda-pack's
        keyword arguments: ``output``, ``format``, ``compress_level``, ...).
        """
        return str(self.pack_with(PackOptions(**options), progress=progress, verbose=verbose).output)

    def pack_with(self, options: PackOptions, *, progress: Optional[ProgressFn] = None,
                  verbose: bool = False) -> Packed:
        """Pack with an options object; ``verbose`` reports progress on stderr."""
        if verbose and progress is None:
            from .report import Reporter

            with Reporter(enabled=True) as reporter:
                return pack_files(self.prefix, self.files, options, reporter.progress, self.packages, self.home)
        return pack_files(self.prefix, self.files, options, progress, self.packages, self.home)
