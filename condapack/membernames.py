"""The member names an archive may hold: what every extractor creates where they belong.

Two rules over the final, ``/``-separated names of one archive. In every environment, a
name with ``\\`` may not hold a ``..`` part once ``\\`` is read as a separator: it is one
file name on POSIX, a path climbing out of the target for Windows extractors. For a
Windows environment, every part must be one Windows can create, and no two names may be
equal without regard to case (one file would silently take the other's place).
"""

from __future__ import annotations

from typing import Iterable, Optional, Protocol

from .errors import EnvError
from .safepath import UnsafePath, relative_path

__all__ = ["Named", "check_member_names"]

#: Device names Windows reserves in every directory, whatever the extension (``con.txt``).
_RESERVED = frozenset(["CON", "PRN", "AUX", "NUL"] + [f"{port}{n}" for port in ("COM", "LPT")
                                                      for n in "123456789\u00b9\u00b2\u00b3"])
#: Characters no Windows file name may hold (``\`` separates, the rest are the shell's or the API's).
_FORBIDDEN = frozenset('<>:"|?*\\' + "".join(map(chr, range(32))))
#: How many offending names the error shows before "and N more".
_SHOWN = 4


class Named(Protocol):
    """A member as far as its name goes: its path in the archive and whether it is a directory."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...


def check_member_names(members: Iterable[Named], windows: bool) -> None:
    """Refuse names an extractor would put outside the target or (``windows``) cannot create, in one line."""
    entries = [(m.name, m.kind == "dir") for m in members]
    problems = [f"{_shown(name)} ({reason})" for name, reason in _bad_names(entries, windows)]
    if windows:
        problems += _collisions(entries)
    if problems:
        where = " on Windows" if windows else ""
        more = f" and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
        count = f"{len(problems)} name{'s' if len(problems) > 1 else ''}"
        raise EnvError(f"{count} in the environment cannot be unpacked safely{where}: "
                       f"{', '.join(problems[:_SHOWN])}{more}; leave them out with --exclude PATTERN "
                       "(exclude in condapack.toml), or rename them")


def _bad_names(entries: Iterable[tuple[str, bool]], windows: bool) -> Iterable[tuple[str, str]]:
    """Each name breaking a rule, with the reason; a part is checked once however often it recurs."""
    good: set[str] = set()
    for name, _ in entries:
        reason = _climbs(name) if "\\" in name else None
        if reason is None and windows:
            parts = name.split("/")
            reason = next(filter(None, (_windows_part(p) for p in parts if p not in good)), None)
            good.update(parts if reason is None else ())
        if reason is not None:
            yield name, reason


def _climbs(name: str) -> Optional[str]:
    try:
        relative_path(name)
    except UnsafePath:
        return "'..' with '\\' climbs out on Windows"
    return None


def _windows_part(part: str) -> Optional[str]:
    """Why Windows cannot create a file or directory named ``part``, or None."""
    if part.endswith((".", " ")):
        return "ends with a dot or space"
    if not _FORBIDDEN.isdisjoint(part):
        return f"holds {next(c for c in part if c in _FORBIDDEN)!r}"
    if part.split(".", 1)[0].rstrip(" ").upper() in _RESERVED:
        return "a reserved device name"
    return None


def _collisions(entries: Iterable[tuple[str, bool]]) -> list[str]:
    """Pairs of names equal without regard to case, unless both are directories (they merge)."""
    seen: dict[str, tuple[str, bool]] = {}
    parents: set[str] = set()
    found = []
    for name, is_dir in entries:
        for entry, entry_dir in [(name, is_dir), *_new_parents(name, parents)]:
            other, other_dir = seen.setdefault(entry.lower(), (entry, entry_dir))
            if other != entry and not (entry_dir and other_dir):
                found.append(f"{_shown(other)} and {_shown(entry)} (equal without regard to case)")
    return found


def _new_parents(name: str, parents: set[str]) -> list[tuple[str, bool]]:
    """The directories ``name`` implies that no earlier name did (each is listed once)."""
    out = []
    parent = name.rpartition("/")[0]
    while parent and parent not in parents:
        parents.add(parent)
        out.append((parent, True))
        parent = parent.rpartition("/")[0]
    return out


def _shown(name: str) -> str:
    """The name as the one-line error shows it (control characters escaped)."""
    return name if name.isprintable() else repr(name)
