"""The one options object that flows through packing."""

from __future__ import annotations

import os
from typing import Callable, Optional

import attrs

from .errors import CondaPackError
from .safepath import UnsafePath, absolute_path, host_path

__all__ = ["PackOptions", "check_threads"]


def check_threads(value: int) -> None:
    """A thread count is positive, or -1 for all cpus."""
    if value == 0 or value < -1:
        raise CondaPackError(f"--n-threads must be a positive number or -1 (all cpus), got {value}")


def _threads(_inst: object, _attr: object, value: int) -> None:
    check_threads(value)


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
    n_threads: int = attrs.field(default=1, validator=_threads)
    zip_symlinks: bool = False
    zip_64: bool = True
    parcel_root: Optional[str] = None
    parcel_name: Optional[str] = None
    parcel_version: Optional[str] = None
    parcel_distro: Optional[str] = None

    @property
    def threads(self) -> int:
        """The thread count with -1 resolved to the number of cpus."""
        return (os.cpu_count() or 1) if self.n_threads == -1 else self.n_threads
