"""The mutex that serialises conda-unpack runs in one environment (Python and sh alike).

The protocol, which ``unpack.sh`` follows too:

1. A Python run first takes an exclusive ``flock`` on the directory
   ``conda-meta/condapack`` (not on Windows, which has none), so Python runs queue
   without polling.
2. Every run then creates the mutex directory ``conda-meta/condapack/unpack.mutex``
   (``mkdir`` is atomic) and writes its process id into ``unpack.mutex/pid``.
3. A run that finds the directory there reads the pid: a live owner is waited for
   (checked again every second); a dead one was killed, and its mutex is taken over
   (``pid`` removed, the directory removed, ``mkdir`` again). A directory that stays
   without a pid for five checks belonged to a run killed between ``mkdir`` and writing
   its pid, and is taken over likewise.
4. A run lets go by removing ``pid``, then the directory. A run that took a mutex over
   knows an earlier run was killed, and looks for its temporary files beside every file.
"""

import os
import stat
import time

from .safepath import inside, io_path
from .state import STATE, STATE_LIMIT, UnpackError, read_bounded

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock
    fcntl = None  # type: ignore[assignment]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Tuple

MUTEX = os.path.join(STATE, "unpack.mutex")
#: Checks of a mutex directory without a pid before it is taken over (one a second).
PIDLESS_CHECKS = 5
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # Windows has none: there lstat is the check


def flocked(prefix: str) -> "Optional[int]":
    """Hold this prefix's flock (another Python conda-unpack here waits for it); its
    descriptor, to close, or None on Windows."""
    directory = os.path.join(prefix, STATE)
    if not inside(prefix, directory):
        raise UnpackError("%s is a symbolic link out of the environment; unpack the archive again" % directory)
    if fcntl is None:  # Windows: no flock (nor a descriptor of a directory); the mutex directory serialises
        return None
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError as exc:
        raise UnpackError("cannot open %s (%s); unpack the archive again" % (directory, exc.strerror))
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def take_mutex_dir(prefix: str) -> "Tuple[str, bool]":
    """Hold the mutex directory; return its path and whether an earlier run was killed holding it."""
    path = os.path.join(prefix, MUTEX)
    pidless, taken_over = 0, False
    while not _made(path):
        owner = mutex_owner(path)
        pidless = pidless + 1 if owner is None else 0 if alive(owner) else PIDLESS_CHECKS
        if pidless >= PIDLESS_CHECKS:
            release_mutex_dir(path)
            pidless, taken_over = 0, True
        else:
            time.sleep(1)
    try:
        fd = os.open(io_path(os.path.join(path, "pid")), os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
    except BaseException:
        release_mutex_dir(path)
        raise
    return path, taken_over


def _made(path: str) -> bool:
    """Create the mutex directory; False when it is there already."""
    try:
        os.mkdir(io_path(path))
        return True
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(io_path(path)).st_mode):
            raise UnpackError("%s is not a directory; remove it and run conda-unpack again" % path)
        return False
    except OSError as exc:
        raise UnpackError("cannot create %s (%s); check the permissions of the environment" % (path, exc.strerror))


def mutex_owner(path: str) -> "Optional[int]":
    try:
        return int(read_bounded(os.path.join(path, "pid"), STATE_LIMIT).decode("ascii"))
    except (OSError, ValueError):
        return None


def alive(pid: int) -> bool:
    if os.name == "nt":
        return windows_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process
    return True


def windows_alive(pid: int) -> bool:
    # Not os.kill(pid, 0): on Windows that terminates the process.
    import ctypes
    # getattr: these exist on Windows only, and the type checker runs elsewhere
    kernel32 = getattr(ctypes, "WinDLL")("kernel32", use_last_error=True)  # noqa: B009
    kernel32.OpenProcess.restype = ctypes.c_void_p
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        # ERROR_ACCESS_DENIED: another user's live process
        return bool(getattr(ctypes, "get_last_error")() == 5)  # noqa: B009
    try:
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(ctypes.c_void_p(handle), ctypes.byref(code))
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(ctypes.c_void_p(handle))


def release_mutex_dir(path: str) -> None:
    for remove, target in ((os.unlink, os.path.join(path, "pid")), (os.rmdir, path)):
        try:
            remove(io_path(target))
        except OSError:
            pass
