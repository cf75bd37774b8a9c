"""condapack: pack conda environments into relocatable, reproducible archives."""

from __future__ import annotations

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


def pack(name: Optional[str] = None, prefix: Optional[str] = None, *, verbose: bool = False,
         filters: Optional[Sequence[Tuple[str, str]]] = None, **options: Any) -> str:
    """Pack a conda environment into an archive and return the archive's path.

    Select the environment by ``name``, ``prefix`` or (neither) the active one.
    ``filters`` is a list of ``("exclude" | "include", pattern)`` applied in order.
    ``options`` are conda-pack's keyword arguments (``output``, ``format``, ``arcroot``,
    ``dest_prefix``, ``compress_level``, ``n_threads``, ...): the fields of
    :class:`condapack.options.PackOptions`.
    """
    from .environment import CondaEnv
    from .locate import find_prefix
    from .options import PackOptions

    checked = PackOptions(**options)
    env = CondaEnv.read(find_prefix(name=name, prefix=prefix), checked)
    if filters:
        env = env.filtered(filters)
    return str(env.pack_with(checked, verbose=verbose).output)

