"""The member names an archive may hold: what every extractor creates where they belong.

Two rules over the final, ``/``-separated names of one archive. In every environment, a
name with ``\\`` may not hold a ``..`` part once ``\\`` is read as a separator: it is one
file name on POSIX, a path climbing out of the target for Windows extractors. For a
Windows environment, every part must be one Windows can create, and no two names may be
equal without regard to case (one file would silently take the other's place).
"""

from __future__ import annotations

import re
from typing import Iterable, Optional, Protocol, Sequence

from .errors import EnvError
from .unpack.safepath import UnsafePath, relative_path

__all__ = ["Named", "check_member_names"]

#: Device names Windows reserves in every directory, whatever the extension (``con.txt``).
_RESERVED = frozenset(["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"] + [
    f"{port}{n}" for port in ("COM", "LPT") for n in "123456789\u00b9\u00b2\u00b3"])
#: Characters no Windows file name may hold (``\`` separates, the rest are the shell's or the API's).
_FORBIDDEN = frozenset('<>:"|?*\\' + "".join(map(chr, range(32))))
#: What may make a name Windows refuses, searched in all names at once: lowered, each between
#: NULs (no name holds one). The exact check runs only on a hit; a search starting with a
#: character class scans fast, and three of them are faster than one alternation.
_SUSPECTS = (re.compile(r'[<>:"|?*\\\x01-\x1f]'), re.compile(r'[. ][/\0]'),
             re.compile(r'[/\0](?:con|prn|aux|nul|conin\$|conout\$|(?:com|lpt)[1-9\u00b9\u00b2\u00b3]) *[./\0]'))
#: Why a name with ``\\`` and ``..`` is refused everywhere.
_CLIMBS = "'..' with '\\' climbs out on Windows"
#: How many offending names the error shows before "and N more".
_SHOWN = 4


class Named(Protocol):
    """A member as far as its name goes: its path in the archive and whether it is a directory."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...


def check_member_names(members: Sequence[Named], windows: bool) -> None:
    """Refuse names an extractor would put outside the target or (``windows``) cannot create, in one line."""
    if windows:
        folded = "\0" + "\0".join([m.name for m in members]).lower() + "\0"
        suspect = any(p.search(folded) for p in _SUSPECTS)
        collide = _may_collide(_fold(folded[1:-1]).split("\0"), members)
        entries = [(m.name, m.kind == "dir") for m in members] if suspect or collide else []
        problems = (_windows_problems(entries) if suspect else []) + (_collisions(entries) if collide else [])
    else:
        problems = [f"{_shown(m.name)} ({_CLIMBS})" for m in members if "\\" in m.name and _climbs(m.name)]
    if problems:
        where = " on Windows" if windows else ""
        count = f"{len(problems)} name{'s' if len(problems) > 1 else ''}"
        more = f" and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
        raise EnvError(f"{count} in the environment cannot be unpacked safely{where}: "
                       f"{', '.join(problems[:_SHOWN])}{more}; leave them out with --exclude PATTERN "
                       "(exclude in condapack.toml), or rename them")


def _windows_problems(entries: Iterable[tuple[str, bool]]) -> list[str]:
    """Each name Windows cannot hold, with the reason; a directory is checked once, not per file in it."""
    good_dirs = {""}
    found = []
    for name, _ in entries:
        parent, _, last = name.rpartition("/")
        reason = _CLIMBS if "\\" in name and _climbs(name) else _windows_part(last)
        if reason is None and parent not in good_dirs:
            reason = next(filter(None, map(_windows_part, parent.split("/"))), None)
            if reason is None:
                good_dirs.add(parent)
        if reason is not None:
            found.append(f"{_shown(name)} ({reason})")
    return found


def _climbs(name: str) -> bool:
    """True when reading ``\\`` as a separator gives ``name`` a ``..`` part."""
    try:
        relative_path(name)
    except UnsafePath:
        return True
    return False


def _windows_part(part: str) -> Optional[str]:
    """Why Windows cannot create a file or directory named ``part``, or None."""
    if part.endswith((".", " ")):
        return "ends with a dot or space"
    if not _FORBIDDEN.isdisjoint(part):
        return f"holds {next(c for c in part if c in _FORBIDDEN)!r}"
    if part.split(".", 1)[0].rstrip(" ").upper() in _RESERVED:
        return "a reserved device name"
    return None


def _fold(text: str) -> str:
    """``text`` as Windows compares names: each character's simple uppercase (NTFS's upcase table),
    so dotless i is I and long s is S, while sharp s, dotted I and the Kelvin sign stay apart."""
    upper = text.upper()
    return upper if len(upper) == len(text) else "".join(u if len(u := c.upper()) == 1 else c for c in text)


def _may_collide(folded: list[str], members: Sequence[Named]) -> bool:
    """Whether two names are equal without regard to case (``folded``: the names by :func:`_fold`), or a
    file's name is a directory's (the exact check runs only then)."""
    unique = set(folded)
    if len(unique) != len(folded):
        return True
    dirs = {name.rpartition("/")[0] for name in unique}
    for directory in list(dirs):
        parent = directory.rpartition("/")[0]
        while parent and parent not in dirs:
            dirs.add(parent)
            parent = parent.rpartition("/")[0]
    clashes = unique & dirs
    return bool(clashes) and any(m.kind != "dir" for m, name in zip(members, folded) if name in clashes)


def _collisions(entries: Iterable[tuple[str, bool]]) -> list[str]:
    """Pairs of names equal without regard to case, unless both are directories (they merge)."""
    seen: dict[str, tuple[str, bool]] = {}
    parents: set[str] = set()
    found = []
    for name, is_dir in entries:
        for entry, entry_dir in [(name, is_dir), *_new_parents(name, parents)]:
            other, other_dir = seen.setdefault(_fold(entry), (entry, entry_dir))
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
