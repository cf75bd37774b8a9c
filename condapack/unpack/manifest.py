"""conda-unpack's manifest, ``conda-meta/condapack/unpack.txt``: the files to relocate.

One file, written at pack time (:func:`render`) and read by both implementations: this
module (:func:`parse`) and ``unpack.sh`` (with ``read`` and ``printf``). It is ASCII and
line-based, every line ending in a newline::

    condapack-unpack 3            the header; "condapack-unpack 3 windows" for a Windows
                                  environment (which has no sh implementation)
    t NAME                        a text file: every occurrence of the prefix is replaced
    b NAME CAPACITY FIELD...      a binary, and the room its placeholder left for a prefix

NAME is the file's path below the prefix as a printf format: the bytes
``A-Z a-z 0-9 . _ / + = @ , ~`` as they are, ``%`` as ``%%``, every other byte as
``\\ooo`` (three octal digits), so a name holds no blank and ``printf "$NAME"`` prints it.
Each FIELD is one NUL-terminated string holding the prefix, found once at pack time:
``OFFSET:LENGTH:FIXED:COUNT:FORMAT``: where it starts, its length through its NUL padding,
how many of its bytes are not the prefix, how many prefixes it holds, and its bytes as a
printf format with ``%s`` where each prefix goes. A Windows field adds ``:SPELLINGS``, one
digit per prefix: the spelling written there (an index into ``rewrite.windows_forms``).
Both implementations overwrite a field with FORMAT filled with the new prefix, NUL-padded
to LENGTH, so they write the same bytes and never search.
"""

import os

from .safepath import UnsafePath, relative_path
from .state import STATE, UnpackError, read_bounded

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, List, Sequence, Tuple

    from .rewrite import Field

MANIFEST = os.path.join(STATE, "unpack.txt")
MANIFEST_LIMIT = 1 << 30  # a line per relocated file: far less, whatever the environment
HEADER = "condapack-unpack 3"
#: Bytes a printf format (and a word split by the shell) may hold as they are.
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._/+=@,~")
_OCTAL = "01234567"


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
        data = read_bounded(path, MANIFEST_LIMIT)
    except OSError as exc:
        raise UnpackError("cannot read %s (%s); unpack the archive again" % (path, exc))
    try:
        return parse(data)
    except ValueError as exc:
        raise UnpackError("%s is malformed (%s); unpack the archive again" % (path, exc))


def parse(data: bytes) -> Manifest:
    """The manifest in ``data``; a ValueError says what is wrong with it."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("not ASCII")
    lines = text.split("\n")
    if lines.pop() != "":
        raise ValueError("the last line is cut short")
    if not lines or lines[0] not in (HEADER, HEADER + " windows"):
        raise ValueError("the first line is not %r" % HEADER)
    windows = lines[0] != HEADER
    return Manifest([_entry(line, windows) for line in lines[1:]], windows)


def _entry(line: str, windows: bool) -> Entry:
    words = line.split(" ")
    if not (words[0] == "t" and len(words) == 2 or words[0] == "b" and len(words) >= 3 and words[2].isdigit()):
        raise ValueError("bad line '%s'" % line[:60])
    name = b"".join(unescape(words[1])).decode("utf-8", "surrogateescape")
    try:
        path = relative_path(name)
    except UnsafePath as exc:  # as unpack.sh says it: the name, escaped only if it holds a NUL
        raise ValueError("file '%s' %s" % ((words[1] if "\0" in name else name)[:60], exc))
    if words[0] == "t":
        return Entry(path, "text")
    fields = [_field(word, windows) for word in words[3:]]
    return Entry(path, "binary", int(words[2]), [f for f, _ in fields], [s for _, s in fields] if windows else [])


def _field(word: str, windows: bool) -> "Tuple[Field, List[int]]":
    items = word.split(":")
    if len(items) != 5 + windows or not all(n.isdigit() for n in items[:4]):
        raise ValueError("bad field %.60r" % word)
    offset, length, fixed, count = (int(n) for n in items[:4])
    parts = unescape(items[4])
    spellings = [int(s) for s in items[5] if s in "012"] if windows else []
    if len(parts) != count + 1 or sum(map(len, parts)) != fixed or windows and len(spellings) != len(items[5]) \
            or windows and len(spellings) != count:
        raise ValueError("bad field %.60r" % word)
    return (offset, length, parts), spellings


def unescape(word: str) -> "List[bytes]":
    """The bytes a printf format prints, split where it holds ``%s``."""
    if "\\" not in word and "%" not in word:
        return [word.encode("ascii")]
    parts, out, at = [], bytearray(), 0
    while at < len(word):
        char, digits = word[at], word[at + 1:at + 4]
        if char == "\\" and len(digits) == 3 and all(c in _OCTAL for c in digits) and digits[0] <= "3":
            out.append(int(digits, 8))
            at += 4
        elif word.startswith("%%", at):
            out.append(0x25)
            at += 2
        elif word.startswith("%s", at):
            parts.append(bytes(out))
            out, at = bytearray(), at + 2
        elif ord(char) in _SAFE:
            out.append(ord(char))
            at += 1
        else:
            raise ValueError("bad escape in %.60r" % word)
    return parts + [bytes(out)]


def escape(data: bytes) -> str:
    """``data`` as a printf format that prints it: safe bytes as they are, others octal."""
    return "".join(chr(b) if b in _SAFE else "%%" if b == 0x25 else "\\%03o" % b for b in data)


def render(manifest: Manifest) -> bytes:
    """The manifest's bytes, which :func:`parse` reads back."""
    lines = [HEADER + (" windows" if manifest.windows else "")]
    for entry in manifest.entries:
        name = escape(entry.path.encode("utf-8", "surrogateescape"))
        if entry.mode == "text":
            lines.append("t %s" % name)
        else:
            fields = [_field_word(field, spellings, manifest.windows)
                      for field, spellings in zip(entry.fields, entry.spellings or [[]] * len(entry.fields))]
            lines.append(" ".join(["b", name, str(entry.capacity)] + fields))
    return "".join(line + "\n" for line in lines).encode("ascii")


def _field_word(field: "Field", spellings: "Iterable[int]", windows: bool) -> str:
    offset, length, parts = field
    word = "%d:%d:%d:%d:%s" % (offset, length, sum(map(len, parts)), len(parts) - 1,
                               "%s".join(escape(p) for p in parts))
    return word + ":" + "".join(map(str, spellings)) if windows else word
