"""conda-unpack's manifest: the files to relocate, each text or binary, read and checked once."""

import os

from .journal import parse_json
from .safepath import UnsafePath, relative_path
from .state import STATE, UnpackError, read_bounded

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Optional, Sequence

    from .rewrite import Field

MANIFEST = os.path.join(STATE, "unpack.json")
MANIFEST_LIMIT = 1 << 30  # an entry per relocated file: far less, whatever the environment


class Entry(object):
    """One file to relocate: a text file, or a binary with its recorded fields (and, on
    Windows, the spelling of the prefix at each split of each field)."""

    __slots__ = ("path", "mode", "capacity", "fields", "spellings")

    def __init__(self, path: str, mode: str, capacity: int = 0, fields: "Sequence[Field]" = (),
                 spellings: "Sequence[Sequence[int]]" = ()) -> None:
        self.path = path
        self.mode = mode
        self.capacity = capacity
        self.fields = list(fields)
        self.spellings = [list(s) for s in spellings]


class Manifest(object):
    """The files of an environment that hold its prefix; ``windows`` for a Windows one."""

    __slots__ = ("entries", "windows")

    def __init__(self, entries: "List[Entry]", windows: bool = False) -> None:
        self.entries = entries
        self.windows = windows


def load_manifest(prefix: str) -> Manifest:
    """The manifest of the environment at ``prefix``, or an UnpackError saying what is wrong."""
    path = os.path.join(prefix, MANIFEST)
    try:
        doc = parse_json(read_bounded(path, MANIFEST_LIMIT).decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise UnpackError("cannot read %s (%s); unpack the archive again" % (path, exc))
    problem = manifest_problem(doc)
    if problem:
        raise UnpackError("%s is malformed (%s); unpack the archive again" % (path, problem))
    return _manifest(doc)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _field_ok(field: object, windows: bool) -> bool:
    """[offset, length, parts as hex], and on Windows the spelling (0-2) at each split."""
    if not (isinstance(field, list) and len(field) == 3 + windows and _is_int(field[0]) and _is_int(field[1])
            and isinstance(field[2], list) and len(field[2]) >= 2 and all(isinstance(p, str) for p in field[2])):
        return False
    return not windows or (isinstance(field[3], list) and len(field[3]) == len(field[2]) - 1
                           and all(_is_int(s) and s < 3 for s in field[3]))


def manifest_problem(manifest: object) -> "Optional[str]":
    """What is wrong with a manifest's structure, or None."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        return "not an object with a list of files"
    windows = manifest.get("windows", False)
    if not isinstance(windows, bool):
        return "windows is not true or false"
    for entry in manifest["files"]:
        if not (isinstance(entry, list) and len(entry) == 4 and entry[1] in ("text", "binary")
                and _is_int(entry[2]) and isinstance(entry[3], list)
                and all(_field_ok(field, windows) for field in entry[3])):
            return "bad file entry %.60r" % (entry,)
        try:
            relative_path(entry[0])
        except UnsafePath as exc:
            return "file %.60r %s" % (entry[0], exc)
    return None


def _manifest(doc: "Any") -> Manifest:
    windows = bool(doc.get("windows", False))
    entries = []
    for path, mode, capacity, fields in doc["files"]:
        recorded = [(f[0], f[1], [bytes.fromhex(p) for p in f[2]]) for f in fields]
        spellings = [list(f[3]) for f in fields] if windows else []
        entries.append(Entry(path, mode, capacity, recorded, spellings))
    return Manifest(entries, windows)
