"""One exception root for everything condapack reports to a user."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "CondaPackError",
    "CondaPackException",
    "EnvError",
    "ArchiveError",
    "RelocationError",
    "ConfigError",
    "RegistryError",
    "did_you_mean",
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


def did_you_mean(word: str, choices: Sequence[str], *, listed: Optional[Sequence[str]] = None,
                 known: str = "known", shown: int = 8) -> str:
    """The hint after an unknown ``word``: `` (did you mean 'x'?)`` for the closest of
    ``choices``, else the first ``shown`` of ``listed`` (default: ``choices``), as
    `` (known: a, b)``. Every "unknown name" message uses this one."""
    import difflib  # only for an error: a valid run does not pay for it

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    names = list(choices if listed is None else listed)
    more = f", ... ({len(names)} in all)" if len(names) > shown else ""
    return f" ({known}: {', '.join(names[:shown])}{more})"
