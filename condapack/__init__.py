"""condapack: pack conda environments into relocatable, reproducible archives."""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any, Optional, Sequence, Tuple

from ._version import __version__
from .errors import CondaPackError, CondaPackException

if TYPE_CHECKING:
    from .environment import CondaEnv
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
         verbose: bool = False, force: bool = False, compress_level: int = 4,
         n_threads: Optional[int] = None,
         zip_symlinks: bool = False, zip_64: bool = True, parcel_root: Optional[str] = None,
         parcel_name: Optional[str] = None, parcel_version: Optional[str] = None,
         parcel_distro: Optional[str] = None,
         filters: Optional[Sequence[Tuple[str, str]]] = None,
         ignore_editable_packages: bool = False, ignore_missing_files: bool = False) -> str:
    """Pack a conda environment into an archive and return the archive's path.

    Select the environment by ``name``, ``prefix`` or (neither) the active one.
    ``filters`` is a list of ``("exclude" | "include", pattern)`` applied in order.
    """
    from .environment import CondaEnv
    from .locate import find_prefix

    checks = {"ignore_editable_packages": ignore_editable_packages,
              "ignore_missing_files": ignore_missing_files}
    env = CondaEnv.from_prefix(find_prefix(name=name, prefix=prefix), **checks)
    if filters:
        env = env.filtered(filters)
    return env.pack(output=output, format=format, arcroot=arcroot, dest_prefix=dest_prefix,
                    force=force, compress_level=compress_level, n_threads=n_threads,
                    zip_symlinks=zip_symlinks, zip_64=zip_64, parcel_root=parcel_root,
                    parcel_name=parcel_name, parcel_version=parcel_version, parcel_distro=parcel_distro,
                    verbose=verbose)


class _Package(types.ModuleType):
    """``condapack.pack`` stays the function when the ``condapack.pack`` module is imported.

    Importing a submodule sets it as an attribute of its package; the modules here are
    imported on first use, after :func:`pack` is defined, so that assignment is refused.
    """

    def __setattr__(self, name: str, value: object) -> None:
        if name == "pack" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
