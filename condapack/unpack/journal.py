"""conda-unpack's undo journal: the original bytes of everything it changes in place.

conda-unpack rewrites files where they are (a binary's recorded fields, a text file's
content) instead of writing a copy of each and renaming it. Before any byte of a file
changes, the bytes it replaces are appended here (``conda-meta/condapack/journal``),
so a failure or an interrupt restores them (content, size and mtime), and a run killed
with SIGKILL is rolled back by the next one. A file that cannot be changed in place (a
running program, one with other hard links, a read-only one) is replaced by a copy
instead; its original is kept as a hard link beside it until the run is over.

The format, append-only: a first line ``["journal", 1, OLD, NEW]`` (JSON), then per
record a JSON line ``["w", PATH, OFFSET, LENGTH, SIZE, MTIME_NS]`` followed by LENGTH
original bytes (to write back at OFFSET, then truncate to SIZE), or
``["r", PATH, 0, 0, 0, 0]`` (PATH was replaced; its original is PATH + ORIG). A record
cut short by a kill belongs to a file not yet touched, and is ignored.

Stdlib-only and Python 3.6 compatible, like the rest of the package.
"""

import errno
import os
import stat

from .safepath import io_path

try:  # json's C parts: json itself imports re, which costs more than relocating hundreds of files
    from _json import encode_basestring_ascii
except ImportError:  # pragma: no cover - a Python without json's accelerator
    from json.encoder import encode_basestring_ascii

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator, List, Optional, Tuple, Union

    #: A record: (kind, path, offset, length, size, mtime_ns, where its bytes start).
    Record = Tuple[str, str, int, int, int, int, int]
    TargetOf = Callable[[str], Tuple[str, os.stat_result]]

ORIG = ".condapack-orig"
CHUNK = 1 << 20
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO opens without waiting for a writer, then is refused
_MAX_LINE = 1 << 16
_JSON_BLANKS = " \t\n\r"


class _Decoding(object):
    """What json's C scanner reads of its decoder: json.loads' defaults."""

    strict = True
    object_hook = object_pairs_hook = None
    parse_float = parse_constant = float  # float() reads NaN and [-]Infinity as json does
    parse_int = int


def _scanner() -> "Optional[Callable[[str, int], Tuple[Any, int]]]":
    try:
        from _json import make_scanner
    except ImportError:  # pragma: no cover - a Python without json's accelerator
        return None
    return make_scanner(_Decoding())  # type: ignore[arg-type]  # reads only the attributes _Decoding has


_scan = _scanner()


class JournalError(Exception):
    """The journal cannot be read or a file cannot be restored from it."""


def read_at(fd: int, size: int, offset: int) -> bytes:
    """Exactly ``size`` bytes at ``offset`` (fewer at the end of the file)."""
    if hasattr(os, "pread"):
        out = os.pread(fd, size, offset)
        while 0 < len(out) < size:
            more = os.pread(fd, size - len(out), offset + len(out))
            if not more:
                break
            out += more
        return out
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, size)


def write_at(fd: int, data: bytes, offset: int) -> None:
    """Write all of ``data`` at ``offset`` (Windows has no os.pwrite)."""
    view = memoryview(data)
    while view:
        if hasattr(os, "pwrite"):
            done = os.pwrite(fd, view, offset)
        else:
            os.lseek(fd, offset, os.SEEK_SET)
            done = os.write(fd, view)
        view, offset = view[done:], offset + done


def chunks_of(fd: int, offset: int, size: int) -> "Iterator[bytes]":
    """The bytes ``[offset, offset + size)`` of a descriptor, ``CHUNK`` at a time."""
    end = offset + size
    while offset < end:
        chunk = read_at(fd, min(CHUNK, end - offset), offset)
        if not chunk:
            return
        yield chunk
        offset += len(chunk)


class Journal(object):
    """The journal of one run, open for appending."""

    def __init__(self, path: str, old: str, new: str) -> None:
        self.path = path
        self.fd: "Optional[int]" = os.open(io_path(path), os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY,
                                           0o600)
        self.end = 0
        self.replaced_paths: "List[str]" = []
        try:
            self._append(_line(["journal", 1, old, new]))
        except BaseException:
            self.close()
            raise

    def _append(self, data: bytes) -> None:
        assert self.fd is not None
        write_at(self.fd, data, self.end)
        self.end += len(data)

    def save(self, rel: str, st: os.stat_result, offset: int, data: bytes) -> None:
        """Record that ``data`` at ``offset`` of ``rel`` (stat ``st``) is about to be overwritten."""
        self._append(_line(["w", rel, offset, len(data), st.st_size, st.st_mtime_ns]) + bytes(data))

    def save_file(self, rel: str, st: os.stat_result, fd: int) -> "Iterator[bytes]":
        """Record the whole content of ``rel`` (open as ``fd``), copied without holding it;
        return a reader of the copy, ``CHUNK`` at a time."""
        self._append(_line(["w", rel, 0, st.st_size, st.st_size, st.st_mtime_ns]))
        start = self.end
        for chunk in chunks_of(fd, 0, st.st_size):
            self._append(chunk)
        if self.end - start != st.st_size:
            raise OSError(errno.EIO, "it changed size while being read")
        assert self.fd is not None
        return chunks_of(self.fd, start, st.st_size)

    def replaced(self, rel: str) -> None:
        """Record that ``rel`` is about to be replaced, its original kept at ``rel + ORIG``."""
        self._append(_line(["r", rel, 0, 0, 0, 0]))
        self.replaced_paths.append(rel)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _line(value: "List[Union[str, int]]") -> bytes:
    # JSON, written by hand: json.dumps costs more than the write it precedes.
    return ("[%s]\n" % ", ".join(map(_json, value))).encode("ascii")


def _json(value: "Union[str, int]") -> str:
    return encode_basestring_ascii(value) if isinstance(value, str) else "%d" % value


def parse_json(text: str) -> "Any":
    """``json.loads(text)``: by json's C scanner alone when ``text`` is one JSON value,
    else by json.loads, for its error (which the scanner alone may not raise right)."""
    if _scan is not None:
        start = len(text) - len(text.lstrip(_JSON_BLANKS))
        try:
            value, end = _scan(text, start)
            if not text[end:].strip(_JSON_BLANKS):
                return value
        except (StopIteration, SystemError):  # no value here; a syntax error while json is not imported
            pass
    import json
    return json.loads(text)


def open_regular(path: str) -> int:
    """A descriptor reading ``path``, which must be a regular file, never through a final link.

    An archive can hold a FIFO or a device under any name: one is refused, not waited on.
    """
    fd = os.open(io_path(path), os.O_RDONLY | _NOFOLLOW | _BINARY | _NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file")
    return fd


def records(path: str) -> "Tuple[Optional[List[Any]], List[Record]]":
    """(header, records) of a journal; a record cut short at the end is left out."""
    try:
        fd = open_regular(path)
    except OSError as exc:
        raise JournalError("cannot read %s (%s)" % (path, exc.strerror))
    try:
        with os.fdopen(fd, "rb") as fh:
            header = _parse(fh.readline(_MAX_LINE), path, head=True)
            found: "List[Record]" = []
            while header is not None:
                line = fh.readline(_MAX_LINE)
                record = _parse(line, path) if line.endswith(b"\n") else None
                if record is None:
                    break
                at = fh.tell()
                fh.seek(record[3], os.SEEK_CUR)
                if fh.tell() > os.fstat(fh.fileno()).st_size:
                    break
                found.append((record[0], record[1], record[2], record[3], record[4], record[5], at))
            return header, found
    except OSError as exc:
        raise JournalError("cannot read %s (%s)" % (path, exc.strerror))


def _parse(line: bytes, path: str, head: bool = False) -> "Optional[List[Any]]":
    if not line.endswith(b"\n"):
        return None
    try:
        value = parse_json(line.decode("ascii"))
    except ValueError:
        value = None
    if head and _is_header(value) or not head and _is_record(value):
        return list(value)
    raise JournalError("%s is damaged (bad %s %.60r)" % (path, "header" if head else "record", line))


def _is_header(value: object) -> bool:
    return (isinstance(value, list) and len(value) == 4 and value[:2] == ["journal", 1]
            and all(isinstance(p, str) for p in value[2:]))


def _is_record(value: object) -> bool:
    return (isinstance(value, list) and len(value) == 6 and value[0] in ("w", "r") and isinstance(value[1], str)
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value[2:]))


def roll_back(path: str, found: "List[Record]", target_of: "TargetOf") -> None:
    """Restore every file a journal's records name, last change first.

    ``target_of(rel)`` returns (path, lstat) of a file it may write, or raises.
    """
    with open(io_path(path), "rb") as fh:
        for kind, rel, offset, length, size, mtime_ns, at in reversed(found):
            target, _ = target_of(rel)
            if kind == "r":
                if os.path.lexists(io_path(target + ORIG)):
                    os.replace(io_path(target + ORIG), io_path(target))
                continue
            fd = os.open(io_path(target), os.O_WRONLY | _NOFOLLOW | _BINARY)
            try:
                fh.seek(at)
                done = 0
                while done < length:
                    chunk = fh.read(min(CHUNK, length - done))
                    write_at(fd, chunk, offset + done)
                    done += len(chunk)
                os.ftruncate(fd, size)
                _set_mtime(fd, target, mtime_ns)
            finally:
                os.close(fd)


def _set_mtime(fd: int, target: str, mtime_ns: int) -> None:
    where = fd if os.utime in getattr(os, "supports_fd", ()) else io_path(target)
    os.utime(where, ns=(os.stat(where).st_atime_ns, mtime_ns))


def discard(path: str, replaced: "List[str]", target_of: "TargetOf") -> None:
    """Forget a journal whose run is over: the originals of the ``replaced`` paths, kept
    aside, then the journal itself (kept, so the next run tries again, while an original
    that is there cannot be removed)."""
    for rel in replaced:
        try:
            original = target_of(rel)[0] + ORIG
        except (OSError, ValueError):
            continue
        try:
            os.unlink(io_path(original))
        except FileNotFoundError:
            pass
    os.unlink(io_path(path))


def replaced_paths(found: "List[Record]") -> "List[str]":
    """The paths a journal's records say were replaced by a copy."""
    return [record[1] for record in found if record[0] == "r"]


def recover(path: str, current: "Optional[str]", target_of: "TargetOf") -> bool:
    """Finish with the journal a run left: roll it back unless the run completed (the
    recorded prefix is already its new one). Return True when there was one."""
    if not os.path.lexists(io_path(path)):
        return False
    header, found = records(path)
    if header is not None and header[3] == current:
        discard(path, replaced_paths(found), target_of)
        return True
    roll_back(path, found, target_of)
    discard(path, replaced_paths(found), target_of)
    return True
