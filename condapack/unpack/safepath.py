"""The one rule for names and paths that come from input: relative, inside, no tricks.

Every name condapack takes from a user, a project file, an environment's metadata or
an archive's manifest goes through :func:`relative_path` (a path below some directory)
or :func:`plain_name` (one directory entry). Shipped inside every archive with the rest
of the package (conda-unpack checks its manifest with it), so it uses the standard
library only and runs on Python >= 3.6.
"""

import os
import stat

# conda-unpack imports this module at every run, and importing ``re`` or ``typing`` costs it
# more than relocating hundreds of files (see rewrite.py): the types are for the type
# checker only, and no regular expression is needed.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Union

__all__ = ["UnsafePath", "relative_path", "plain_name", "absolute_path", "host_path", "inside", "is_link", "is_utf8",
           "is_windows_absolute", "io_path"]

#: Where a path needs the extended-length form on Windows (MAX_PATH is 260, less room to grow).
_LONG = 240
_EXTENDED = "\\\\?\\"
_REPARSE_POINT = 0x400  # FILE_ATTRIBUTE_REPARSE_POINT: symbolic links and junctions

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class UnsafePath(ValueError):
    """A name that could reach outside the directory it must stay in."""


def relative_path(name: object, allow_empty: bool = False) -> str:
    """``name`` normalised (``a//./b/`` -> ``a/b``); refuse absolute, ``..``, NUL, empty."""
    if not isinstance(name, str):
        raise UnsafePath("must be a string, got %s" % type(name).__name__)
    if "\0" in name:
        raise UnsafePath("contains a NUL byte")
    if name.startswith("/") or (os.name == "nt" and _windows_rooted(name)):
        raise UnsafePath("must be a relative path, got %r" % name)
    if name and "//" not in name and "/." not in "/" + name and not name.endswith("/") and "\\" not in name:
        return name  # already normal: no empty, "." or ".." part, no "\\" (the common case, kept fast)
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts or ".." in name.replace("\\", "/").split("/"):  # Windows also splits at \
        raise UnsafePath("may not contain '..', got %r" % name)
    if not parts and not allow_empty:
        raise UnsafePath("may not be empty, got %r" % name)
    return "/".join(parts)


def plain_name(name: object) -> str:
    """One directory entry: a relative path of a single component, not starting with a dot."""
    normal = relative_path(name)
    if "/" in normal or normal != name:
        raise UnsafePath("must be a plain name without /, got %r" % name)
    if normal.startswith("."):
        raise UnsafePath("may not start with a dot, got %r" % name)
    return normal


def host_path(name: object) -> str:
    """A path of this machine the user chose (an output, a prefix): a string without NUL."""
    if not isinstance(name, str):
        raise UnsafePath("must be a string, got %s" % type(name).__name__)
    if "\0" in name:
        raise UnsafePath("contains a NUL byte")
    return name


def _has_drive(path: str) -> bool:
    return len(path) >= 2 and path[0] in _LETTERS and path[1] == ":"


def _windows_rooted(path: str) -> bool:
    """On Windows, a drive (C:x is relative to that drive's current directory) or a rooted \\x."""
    return _has_drive(path) or path[:1] in ("\\", "/")


def is_windows_absolute(path: str) -> bool:
    """True for ``C:\\x``, ``C:/x`` (a drive) and ``\\\\server\\share`` (UNC): absolute on Windows."""
    return _has_drive(path) and path[2:3] in ("\\", "/") or path[:2] == "\\\\" and path[2:3] not in ("", "\\", "/")


def absolute_path(name: object) -> str:
    """An absolute path (a prefix on the target machine): a string without NUL, ``/``-rooted
    or a Windows absolute path."""
    host_path(name)
    assert isinstance(name, str)
    if not (name.startswith("/") or is_windows_absolute(name)):
        raise UnsafePath("must be an absolute path, got %r" % name)
    return name


def io_path(path: str) -> str:
    """The path to hand to the OS: on Windows, long paths need the extended-length form
    (never written into a file; it only reaches the OS)."""
    if os.name == "nt" and len(path) >= _LONG and not path.startswith("\\\\"):
        # The OS takes that form literally: no "/" -> "\\" nor ".." folding for it.
        return _EXTENDED + os.path.normpath(path)
    return path


def _real(path: "Union[str, os.PathLike[str]]") -> str:
    real = os.path.realpath(io_path(os.fspath(path)))
    if real.startswith(_EXTENDED) and not real.startswith(_EXTENDED + "UNC\\"):
        real = real[len(_EXTENDED):]
    return os.path.normcase(real)


def inside(root: "Union[str, os.PathLike[str]]", path: "Union[str, os.PathLike[str]]") -> bool:
    """True when ``path`` resolves (symlinks followed) to ``root`` or below it."""
    try:
        real_root, real = _real(root), _real(path)
    except OSError:  # wine cannot resolve a path over MAX_PATH
        return _inside_without_links(os.fspath(root), os.fspath(path))
    return _below(real_root, real)


def _below(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _inside_without_links(root: str, path: str) -> bool:
    """Lexically below ``root``, and no component below it is a link or a junction."""
    root, path = os.path.normcase(os.path.abspath(root)), os.path.normcase(os.path.abspath(path))
    if not _below(root, path):
        return False
    at = root
    for part in path[len(root):].split(os.sep):
        if part:
            at = os.path.join(at, part)
            if is_link(os.lstat(io_path(at))):
                return False
    return True


def is_link(st: os.stat_result) -> bool:
    """True for the lstat of a symbolic link or (Windows) a junction or other reparse point."""
    return stat.S_ISLNK(st.st_mode) or bool(getattr(st, "st_file_attributes", 0) & _REPARSE_POINT)


def is_utf8(data: bytes) -> bool:
    """True when a name's bytes are valid UTF-8 (archive headers must say when they are not)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
