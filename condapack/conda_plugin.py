"""``conda pack``: a conda plugin whose subcommand runs the ``conda-pack`` command line.

conda (26.3 and newer no longer run ``conda-<name>`` executables from PATH) loads this
module through the ``conda`` entry point group; nothing in condapack imports it, so
``import condapack`` never imports conda. The subcommand type is imported from
``conda.plugins.types``, where every conda since 23.1 defines it (the old
``conda.plugins.CondaSubcommand`` is deprecated since 25.11). It is built with
``name``, ``summary`` and ``action`` only: ``aliases`` exists only since 26.7, and
without ``configure_parser`` every version hands the action the raw arguments (a list
from ``sys.argv[2:]`` before 23.7, the unparsed rest as a tuple after), so flags, help
and exit codes are exactly those of ``conda-pack``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence, TypeVar

from conda import plugins

from .errors import EnvError
from .locate import check_env_name, find_prefix

__all__ = ["conda_subcommands", "SUMMARY"]

SUMMARY = "Pack an environment into a relocatable archive (condapack; the conda-pack command line)."

_F = TypeVar("_F", bound=Callable[..., Any])
_hookimpl: Callable[[_F], _F] = plugins.hookimpl


@_hookimpl
def conda_subcommands() -> Iterator[Any]:
    """conda's hook: one subcommand, ``pack``."""
    from conda.plugins.types import CondaSubcommand

    yield CondaSubcommand(name="pack", summary=SUMMARY, action=pack_action)


def pack_action(argv: Sequence[str]) -> int:
    """Run ``conda-pack`` with these arguments, resolving -n and the default env through conda."""
    from .cli import conda_pack_main

    try:
        return conda_pack_main(list(argv), prog="conda pack", locate=locate_with_conda)
    except SystemExit as exc:  # --help, --version and usage errors from argparse
        return exc.code if isinstance(exc.code, int) else 1


def locate_with_conda(name: Optional[str], prefix: Optional[str]) -> Path:
    """The prefix for -n/-p as the running conda sees it: its envs_dirs, its active env."""
    from conda.base.context import context, locate_prefix_by_name
    from conda.exceptions import EnvironmentNameNotFound

    if prefix or (name is None and not context.active_prefix):
        return find_prefix(name=name, prefix=prefix)
    if name is None:
        return Path(context.active_prefix)
    check_env_name(name)
    try:
        return Path(locate_prefix_by_name(name))
    except EnvironmentNameNotFound:
        dirs = ", ".join(str(d) for d in context.envs_dirs) or "no envs_dirs"
        raise EnvError(f"Environment name {name!r} doesn't exist (conda looked in {dirs}); "
                       "pass its path with -p/--prefix") from None
