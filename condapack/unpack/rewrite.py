"""Pure byte-level prefix rewriting: text, binary C strings and shebang lines.

This module is shipped verbatim inside every archive, where ``conda-unpack`` runs it
with whatever Python the target machine has, so it must stay stdlib-only and
compatible with Python 3.6.
"""

from .quoting import sh_word

# conda-unpack imports this module at every run, and importing ``typing`` or ``re`` costs
# more than relocating hundreds of files (more still where the environment's Python
# compiles them from source): the types are for the type checker only, and ``re`` is
# imported by the functions that need it (the binary search at pack time, Windows text),
# never on the way of a POSIX conda-unpack.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, Iterator, List, Optional, Pattern, Sequence, Tuple


# Linux reads at most this many bytes of a "#!" line (BINPRM_BUF_SIZE - 1 before
# kernel 5.1). A longer line is silently truncated, so it has to be avoided.
SHEBANG_LIMIT = 127

# The trampoline that pip and conda use when an interpreter path cannot be a shebang line
# (too long, or holding a blank the kernel would split it at): /bin/sh runs the first two
# lines, Python sees a string literal. Its lines are ``#!/bin/sh``,
# ``'''exec' WORD ARGS "$0" "$@"`` and ``' '''``, WORD being the interpreter as
# quoting.sh_word writes it (pip's form, the interpreter in double quotes, is read too).
_TRAMPOLINE_HEAD = b"#!/bin/sh\n'''exec' "
_TRAMPOLINE_TAIL = b' "$0" "$@"'
_TRAMPOLINE_END = b"\n' '''\n"


# How far from the end a zip's end-of-central-directory record can be (a 64 KiB comment).
_EOCD_WINDOW = 65557


class PrefixError(ValueError):
    """A prefix cannot be written into a file."""


def is_binary(data: bytes) -> bool:
    """Tell whether file content is binary (contains a NUL byte)."""
    return b"\0" in data


def replace_text(data: bytes, old: bytes, new: bytes) -> bytes:
    """Replace every occurrence of ``old`` by ``new``; an interpreter header naming ``old``
    is rewritten to the valid header for ``new``."""
    if old == new or not holds((data,), old):
        return data
    header, end = relocated_header(data, old, new)
    return header + data[end:].replace(old, new)


# A text file too big to hold in memory is rewritten in chunks; its interpreter header (the
# /bin/sh trampoline is three lines) is rewritten when it lies within this many bytes.
HEAD = 1 << 20


def holds(chunks: "Iterable[bytes]", old: bytes) -> bool:
    """Tell whether a file read in ``chunks`` holds ``old``, as it is or quoted in a
    trampoline (either may span two chunks)."""
    needles = _spellings(old)
    keep = max(len(needle) for needle in needles) - 1
    carry = b""
    for chunk in chunks:
        buf = carry + chunk
        if any(needle in buf for needle in needles):
            return True
        carry = buf[max(0, len(buf) - keep):]
    return False


def _spellings(old: bytes) -> "Tuple[bytes, ...]":
    # A trampoline names the interpreter quoted, which spells a quote or a backslash
    # differently; the quoted spelling of anything else is ``'`` + the prefix itself.
    quoted = _sh_word(old)[:-1]
    return (old,) if quoted[1:] == old else (old, quoted)


def replace_chunks(chunks: "Iterable[bytes]", old: bytes, new: bytes) -> "Iterator[bytes]":
    """``replace_text`` of a file that holds ``old``, read and written in chunks.

    The output is the same bytes whenever the interpreter header lies within ``HEAD``
    bytes: memory stays bounded by the chunk size, whatever the file's size.
    """
    chunks = iter(chunks)
    first = b""
    for chunk in chunks:
        first += chunk
        if len(first) >= HEAD:
            break
    header, end = relocated_header(first, old, new)
    yield header
    for piece in _replaced_pieces(_chain(first[end:], chunks), old, new):
        yield piece


def _chain(first: bytes, rest: "Iterator[bytes]") -> "Iterator[bytes]":
    yield first
    for chunk in rest:
        yield chunk


def _replaced_pieces(chunks: "Iterable[bytes]", old: bytes, new: bytes) -> "Iterator[bytes]":
    # Like bytes.replace, scanning left to right; an occurrence starting in the last
    # len(old) - 1 bytes of the buffer may be cut short, so those wait for the next chunk.
    bordered = any(old[:k] == old[-k:] for k in range(1, len(old)))
    carry = b""
    for chunk in chunks:
        buf = carry + chunk
        cut = max(0, len(buf) - (len(old) - 1))
        if bordered:  # occurrences may overlap (/a/b/a): find the ones bytes.replace takes
            out: List[bytes] = []
            pos = 0
            found = buf.find(old)
            while 0 <= found < cut:
                out += (buf[pos:found], new)
                pos = found + len(old)
                found = buf.find(old, pos)
            split = max(pos, cut)
            out.append(buf[pos:split])
            piece = b"".join(out)
        else:  # occurrences never overlap: the last one starting before the cut ends the piece
            last = buf.rfind(old, 0, cut + len(old) - 1)
            split = cut if last < 0 else max(cut, last + len(old))
            piece = buf[:split].replace(old, new)
        carry = buf[split:]
        yield piece
    yield carry


def replace_binary(data: bytes, old: bytes, new: bytes, capacity: int) -> bytes:
    """Replace ``old`` by ``new`` in NUL-terminated C strings, keeping offsets.

    Each string is rewritten in place and padded with NULs so the file keeps its size.
    A string may grow into the NULs that follow it, but only while the new prefix fits
    in ``capacity`` bytes: the length of the placeholder the package was built with.
    Those trailing NULs were written by the installer (or by an earlier relocation)
    when it put a shorter prefix into the placeholder's room, so they are ours to use.
    """
    if old == new or old not in data:
        return data
    check_capacity(new, capacity)
    import re

    pattern = re.compile(re.escape(old) + b"([^\0]*)(\0+)")

    def substitute(match: "re.Match[bytes]") -> bytes:
        body = match.group(0)[: match.start(2) - match.start(0)]
        new_body = body.replace(old, new)
        nuls = len(match.group(2)) - (len(new_body) - len(body))
        if nuls < 1:
            raise PrefixError("a string holding the prefix has no room to grow")
        return new_body + b"\0" * nuls

    return pattern.sub(substitute, data)


def check_capacity(new: bytes, capacity: int) -> None:
    """Refuse a prefix longer than the placeholder a binary was built with."""
    if len(new) > capacity:
        raise PrefixError(
            "the new prefix is %d bytes long but the binary has room for %d"
            % (len(new), capacity)
        )


# One NUL-terminated string that holds the prefix: (offset of the prefix, length of the
# string from there through its NUL padding, the string's bytes split at the prefix).
if TYPE_CHECKING:
    Field = Tuple[int, int, List[bytes]]


def binary_fields(data: bytes, old: bytes) -> "List[Field]":
    """The strings ``replace_binary`` rewrites, found once at pack time.

    Offsets and field lengths never change when a binary is relocated, and neither do
    the parts between the prefixes, so relocating again needs no search (it cannot
    mistake a short new prefix for bytes that merely look like it) and no reading:
    conda-unpack overwrites each field of a copy with ``render_field``.
    """
    import re

    pattern = re.compile(re.escape(old) + b"([^\0]*)(\0+)")
    return [(m.start(), m.end() - m.start(), data[m.start():m.start(2)].split(old))
            for m in pattern.finditer(data)]


def render_field(parts: "Sequence[bytes]", length: int, new: bytes) -> bytes:
    """A field's bytes with ``new`` between its parts, NUL-padded to ``length``."""
    return _padded(new.join(parts), length)


def _padded(body: bytes, length: int) -> bytes:
    if len(body) >= length:
        raise PrefixError("a string holding the prefix has no room to grow")
    return body + b"\0" * (length - len(body))


def parse_shebang(data: bytes) -> "Optional[Tuple[bytes, bytes, int]]":
    """Return (interpreter, arguments, header length) of a script, or None.

    Both a plain ``#!`` line and the ``/bin/sh`` trampoline are understood.
    """
    return _parse_trampoline(data) or _parse_plain_shebang(data, b"")


def relocated_header(data: bytes, old: bytes, new: bytes) -> "Tuple[bytes, int]":
    """The header of ``data`` whose interpreter lies in ``old``, rewritten for ``new``, and
    the length of the header it replaces; ``(b"", 0)`` for any other file.

    The header is read before the prefix is replaced: a trampoline's interpreter is
    quoted, and a new prefix holding a blank would split a plain ``#!`` line.
    """
    parsed = _parse_trampoline(data) or _parse_plain_shebang(data, old)
    if parsed is None or not parsed[0].startswith(old + b"/"):
        return b"", 0
    interp, args, end = parsed
    return make_shebang(interp.replace(old, new), args.replace(old, new)), end


def _parse_trampoline(data: bytes) -> "Optional[Tuple[bytes, bytes, int]]":
    start = len(_TRAMPOLINE_HEAD)
    eol = data.find(b"\n", start) if data.startswith(_TRAMPOLINE_HEAD) else -1
    word = None if eol < 0 else _double_quoted(data, start, eol) or _sh_word_at(data, start, eol)
    if word is None:
        return None
    interp, after = word
    args_end = eol - len(_TRAMPOLINE_TAIL)
    if not (after <= args_end and data.startswith(_TRAMPOLINE_TAIL, args_end)
            and data.startswith(_TRAMPOLINE_END, eol)):
        return None
    return interp, data[after:args_end], eol + len(_TRAMPOLINE_END)


def _double_quoted(data: bytes, start: int, eol: int) -> "Optional[Tuple[bytes, int]]":
    # pip's and conda's trampolines: "INTERP", which holds no quote.
    close = data.find(b'"', start + 1, eol) if data.startswith(b'"', start) else -1
    return None if close < 0 else (data[start + 1:close], close + 1)


def _sh_word_at(data: bytes, start: int, eol: int) -> "Optional[Tuple[bytes, int]]":
    """The word ``_sh_word`` writes, read back from ``data[start:eol]``: (text, its end)."""
    out, pos = [], start
    while pos < eol:
        if data.startswith(b"'", pos):
            close = data.find(b"'", pos + 1, eol)
            if close < 0:
                return None
            out.append(data[pos + 1:close])
            pos = close + 1
        elif data.startswith(b"\"'\"", pos):
            out.append(b"'")
            pos += 3
        elif data.startswith(b"\\\\", pos):
            out.append(b"\\")
            pos += 2
        else:
            break
    if pos == start or data[pos:pos + 1] not in (b" ", b"\t"):
        return None
    return b"".join(out), pos


def _parse_plain_shebang(data: bytes, home: bytes) -> "Optional[Tuple[bytes, bytes, int]]":
    # "#!", blanks, the interpreter (up to the next blank), its arguments (up to the newline);
    # an interpreter in ``home`` holds all of ``home``, blanks too.
    eol = data.find(b"\n") if data.startswith(b"#!") else -1
    line = data[2:eol].lstrip(b" \t") if eol >= 0 else b""
    skip = len(home) if home and line.startswith(home + b"/") else 0
    interp = line[:skip] + line[skip:].replace(b"\t", b" ").partition(b" ")[0]
    if not interp:
        return None
    return interp, line[len(interp):], eol + 1


def make_shebang(interp: bytes, args: bytes) -> bytes:
    """Build the header that runs ``interp``: a ``#!`` line if the kernel can read it.

    A Python interpreter whose path is too long for the kernel, or holds a blank (where
    the kernel would cut it), gets the ``/bin/sh`` trampoline; any other interpreter falls
    back to ``/usr/bin/env NAME``.
    """
    line = b"#!" + interp + args
    if len(line) <= SHEBANG_LIMIT and b" " not in interp and b"\t" not in interp:
        return line + b"\n"
    name = interp.rsplit(b"/", 1)[-1]
    if name.startswith(b"python"):
        return _TRAMPOLINE_HEAD + _sh_word(interp) + args + _TRAMPOLINE_TAIL + _TRAMPOLINE_END
    return b"#!/usr/bin/env " + name + args + b"\n"


def _sh_word(text: bytes) -> bytes:
    return sh_word(text.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")


# Windows. A prefix is written into files in three spellings: C:\old\env (what the
# OS gives), C:/old/env (conda's text placeholders on Windows) and C:\\old\\env
# (JSON and other escaped strings). Drive letters are compared case-insensitively.


def windows_prefix(prefix: str) -> str:
    """The canonical (backslash) spelling of a Windows prefix."""
    return prefix.replace("/", "\\").rstrip("\\") if len(prefix) > 3 else prefix.replace("/", "\\")


def windows_forms(prefix: bytes) -> "Tuple[bytes, bytes, bytes]":
    """The escaped, backslash and forward-slash spellings of a backslash prefix."""
    return prefix.replace(b"\\", b"\\\\"), prefix, prefix.replace(b"\\", b"/")


def windows_pattern(prefix: bytes) -> "Pattern[bytes]":
    """A regex matching any spelling of ``prefix``; group N is ``windows_forms()[N-1]``."""
    import re

    parts = []
    for form in windows_forms(prefix):
        if form[1:2] == b":" and form[:1].isalpha():
            head = b"[" + form[:1].upper() + form[:1].lower() + b"]"
            parts.append(b"(" + head + re.escape(form[1:]) + b")")
        else:
            parts.append(b"(" + re.escape(form) + b")")
    return re.compile(b"|".join(parts))


def replace_windows_text(data: bytes, old: bytes, new: bytes) -> bytes:
    """Replace every spelling of the Windows prefix ``old`` by the same spelling of ``new``."""
    if old == new:
        return data
    new_forms = windows_forms(new)
    return windows_pattern(old).sub(lambda match: new_forms[(match.lastindex or 1) - 1], data)


# A Windows field: a Field whose parts are split at any spelling of the prefix, and the
# spelling (an index into windows_forms) found at each split, to be written back alike.
if TYPE_CHECKING:
    WindowsField = Tuple[Field, List[int]]


def windows_binary_fields(data: bytes, old: bytes) -> "List[WindowsField]":
    """:func:`binary_fields` for every spelling of the Windows prefix ``old``."""
    import re

    prefixes = windows_pattern(old)
    fields: "List[WindowsField]" = []
    for m in re.finditer(b"(?:" + prefixes.pattern + b")[^\0]*(\0+)", data):
        body = data[m.start():m.start(4)]
        parts, spellings, at = [], [], 0
        for p in prefixes.finditer(body):
            parts.append(body[at:p.start()])
            spellings.append((p.lastindex or 1) - 1)
            at = p.end()
        parts.append(body[at:])
        fields.append(((m.start(), m.end() - m.start(), parts), spellings))
    return fields


def render_windows_field(parts: "Sequence[bytes]", spellings: "Sequence[int]", length: int, new: bytes) -> bytes:
    """:func:`render_field` with each split's spelling of the Windows prefix ``new``."""
    forms = windows_forms(new)
    return _padded(parts[0] + b"".join(forms[s] + part for s, part in zip(spellings, parts[1:])), length)


def replace_windows_binary(data: bytes, old: bytes, new: bytes, capacity: int) -> bytes:
    """:func:`replace_binary` for every spelling of the prefix a Windows binary may hold."""
    fields = windows_binary_fields(data, old)
    if old == new or not fields:
        return data
    check_capacity(new, capacity)
    out = bytearray(data)
    for (offset, length, parts), spellings in fields:
        out[offset:offset + length] = render_windows_field(parts, spellings, length, new)
    return bytes(out)


def is_launcher(data: bytes) -> bool:
    """Tell a script launcher (pip/distlib: an .exe, a ``#!`` line, then a zip) from a
    binary. Its prefix is in the shebang line, which may change length: the launcher
    and Python locate the zip from its end."""
    return data[:2] == b"MZ" and b"PK\x05\x06" in data[-_EOCD_WINDOW:] and b"#!" in data


def relocate(data: bytes, old: bytes, new: bytes, mode: str, capacity: int, windows: bool) -> bytes:
    """New content of a file holding ``old`` in ``mode`` ("text" or "binary")."""
    if windows:
        if mode == "binary":
            return replace_windows_binary(data, old, new, capacity)
        return replace_windows_text(data, old, new)
    if mode == "binary":
        return replace_binary(data, old, new, capacity)
    return replace_text(data, old, new)
