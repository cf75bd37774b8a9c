"""One exception root for everything condapack reports to a user."""

from __future__ import annotations

__all__ = [
    "CondaPackError",
    "CondaPackException",
    "EnvError",
    "ArchiveError",
    "RelocationError",
    "ConfigError",
    "RegistryError",
]


class CondaPackError(Exception):
    """Base class of every error meant for the user: one line, with a hint."""


#: The reference implementation's name for the same root.
CondaPackException = CondaPackError


class EnvError(CondaPackError):
    """The environment cannot be found, read or packed as it is."""


class ArchiveError(CondaPackError):
    """The archive cannot be written (format, output path, options)."""


class RelocationError(CondaPackError):
    """A prefix cannot be rewritten (for example a binary field is too short)."""


class ConfigError(CondaPackError):
    """A project file is invalid."""


class RegistryError(CondaPackError):
    """A container registry refused, failed or answered something invalid."""
