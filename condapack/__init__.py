"""condapack: pack conda environments into relocatable, reproducible archives."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence, Tuple

from ._version import __version__
from .errors import CondaPackError, CondaPackException

if TYPE_CHECKING:
    from .environment import CondaEnv
    from .packing import ProgressFn
    from .prefix import File

__all__ = ["pack", "CondaEnv", "File", "CondaPackError", "CondaPackException", "__version__"]


def __getattr__(name: str) -> Any:
    """``CondaEnv`` and ``File`` on first use: ``condapack`` commands that never pack start faster."""
    if name == "CondaEnv":
        from .environment import CondaEnv

        return CondaEnv
    if name == "File":
        from .prefix import File

        return File
    raise AttributeError(f"module 'condapack' has no attribute {name!r}")


def pack(name: Optional[str] = None, prefix: Optional[str] = None, output: Optional[str] = None,
         format: str = "infer", arcroot: str = "", dest_prefix: Optional[str] = None,
         parcel_root: Optional[str] = None, parcel_name: Optional[str] = None, parcel_version: Optional[str] = None,
         parcel_distro: Optional[str] = None, verbose: bool = False, force: bool = False, compress_level: int = 4,
         n_threads: Optional[int] = 1, zip_symlinks: bool = False, zip_64: bool = True,
         filters: Optional[Sequence[Tuple[str, str]]] = None, ignore_editable_packages: bool = False,
         ignore_missing_files: bool = False, *, progress: Optional[ProgressFn] = None) -> str:
    """Pack a conda environment into an archive and return the archive's absolute path.

    conda-pack 0.9.2's ``pack``, parameter for parameter: select the environment by
    ``name``, ``prefix`` or (neither) the active one; ``filters`` is a list of
    ``("exclude" | "include", pattern)`` applied in order; the rest are
    :meth:`condapack.environment.CondaEnv.pack`'s. ``progress`` is called with (bytes done, bytes in total).
    """
    from .environment import CondaEnv
    from .locate import find_prefix

    env = CondaEnv.from_prefix(find_prefix(name=name, prefix=prefix), ignore_editable_packages=ignore_editable_packages,
                               ignore_missing_files=ignore_missing_files)
    if filters:
        env = env.filtered(filters)
    return env.pack(output, format, arcroot, dest_prefix, parcel_root, parcel_name, parcel_version, parcel_distro,
                    verbose, force, compress_level, n_threads, zip_symlinks, zip_64, progress=progress)
