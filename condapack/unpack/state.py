"""conda-unpack's state in ``conda-meta/condapack/``: where the files point, and its one error.

``prefix`` holds the location the environment's files hold now (rewritten by every run
that completes), ``pending`` the location the sh implementation is renaming files for
(see ``unpack.sh``). Both are read bounded, as regular files, never through a link.
"""

import errno
import os

from .journal import open_regular
from .inplace import create_beside
from .safepath import UnsafePath, absolute_path, io_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, Optional

STATE = os.path.join("conda-meta", "condapack")
#: The state files a run rewrites (each replaced atomically, through a temporary beside it).
STATE_FILES = ("prefix", "pending")
JOURNAL = os.path.join(STATE, "journal")
STATE_LIMIT = 1 << 20  # a location, or a process id


class UnpackError(Exception):
    """A failure reported to the user as one line."""


def same_place(a: str, b: str) -> bool:
    return os.path.normcase(a) == os.path.normcase(b)


def open_read(path: str) -> "BinaryIO":
    """``path``, a regular file, opened for reading in binary, never through a final symbolic link."""
    return os.fdopen(open_regular(path), "rb")


def read_bounded(path: str, limit: int) -> bytes:
    """The bytes of regular file ``path``; more than ``limit`` of them is an OSError."""
    with open_read(path) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, "larger than %d MiB" % (limit >> 20))
    return data


def read_state(prefix: str, name: str) -> "Optional[str]":
    """The prefix recorded in the state file ``name`` ('prefix' or 'pending'), or None."""
    path = os.path.join(prefix, STATE, name)
    try:
        value = read_bounded(path, STATE_LIMIT).decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UnpackError("cannot read %s (%s); unpack the archive again" % (path, exc.strerror))
    try:
        absolute_path(value)
    except UnsafePath:
        raise UnpackError("%s is malformed (not an absolute path); unpack the archive again" % path)
    return value


def write_state(prefix: str, name: str, value: str) -> None:
    path = os.path.join(prefix, STATE, name)
    os.replace(io_path(create_beside(path, [value.encode("utf-8", "surrogateescape")], 0o644)), io_path(path))
