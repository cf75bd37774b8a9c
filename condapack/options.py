"""The one options object that flows through packing."""

from __future__ import annotations

import os
from typing import Callable, Optional

import attrs

from .errors import CondaPackError
from .safepath import UnsafePath, absolute_path, host_path

__all__ = ["PackOptions", "check_threads", "resolve_threads", "DEFAULT_MAX_THREADS"]

#: Threads when none are asked for (no -j, no CONDAPACK_THREADS, no ``threads`` key): every
#: cpu this process may run on, as pigz does, since the bytes never depend on the count;
#: but at most this many, because each thread keeps blocks in flight (memory grows with
#: it) and beyond it writing the archive, not compressing, is what takes the time.
DEFAULT_MAX_THREADS = 8


def check_threads(value: int) -> None:
    """A thread count is positive, or -1 for all cpus."""
    if value == 0 or value < -1:
        raise CondaPackError(f"--n-threads must be a positive number or -1 (all cpus), got {value}")


def _threads(_inst: object, _attr: object, value: Optional[int]) -> None:
    if value is not None:
        check_threads(value)


def _usable_cpus() -> int:
    """The cpus this process may run on (its affinity mask: taskset, cgroup cpusets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_threads(n_threads: Optional[int]) -> int:
    """The thread count to run: ``None`` is the default (all cpus, at most
    ``DEFAULT_MAX_THREADS``), -1 all cpus (conda-pack's meaning), else as given."""
    if n_threads is None:
        return min(_usable_cpus(), DEFAULT_MAX_THREADS)
    return _usable_cpus() if n_threads == -1 else n_threads


Validator = Callable[[object, object, Optional[str]], None]


def _path_rule(option: str, rule: Callable[[object], str], fix: str) -> Validator:
    """An attrs validator applying a :mod:`condapack.safepath` rule to an optional path option."""

    def validate(_inst: object, _attr: object, value: Optional[str]) -> None:
        if value is not None:
            try:
                rule(value)
            except UnsafePath as exc:
                raise CondaPackError(f"{option} {exc}; {fix}") from None

    return validate


@attrs.frozen
class PackOptions:
    """How to pack: output, format and archive settings (conda-pack's options)."""

    output: Optional[str] = attrs.field(
        default=None, validator=_path_rule("--output", host_path, "name the archive to write"))
    format: str = "infer"
    arcroot: str = ""
    dest_prefix: Optional[str] = attrs.field(
        default=None, validator=_path_rule("--dest-prefix", absolute_path,
                                           "pass the final location of the environment"))
    force: bool = False
    compress_level: int = 4
    n_threads: Optional[int] = attrs.field(default=None, validator=_threads)
    zip_symlinks: bool = False
    zip_64: bool = True
    parcel_root: Optional[str] = None
    parcel_name: Optional[str] = None
    parcel_version: Optional[str] = None
    parcel_distro: Optional[str] = None

    @property
    def threads(self) -> int:
        """The thread count to run (see :func:`resolve_threads`)."""
        return resolve_threads(self.n_threads)
