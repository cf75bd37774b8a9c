"""Undo and resume: what conda-unpack does when a run fails, is interrupted or was killed.

A failed or interrupted run restores every file from its journal (``journal.py``). The
next run after one that was killed rolls its journal back, finishes the sh
implementation's renames (its ``pending``) and removes temporary files left behind.
Signals are deferred while a state file is renamed, so no run stops half-way through one.
"""

import os
import stat

from .inplace import SUFFIX, discard_temps
from .journal import JournalError, discard, recover, records, replaced_paths, roll_back
from .rewrite import PrefixError
from .safepath import UnsafePath, io_path
from .state import JOURNAL, STATE, STATE_FILES, UnpackError, read_state, write_state
from .targets import Dirs, target_finder

try:  # signal's C module: signal itself imports enum, which costs more than a small run
    import _signal as signal  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    import signal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType
    from typing import Callable, List, Optional, Tuple

    from .manifest import Manifest

#: The signals handled like Ctrl-C.
SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def on_signals(handler: "Callable[[int, Optional[FrameType]], None]") -> None:
    """Run ``handler`` on SIGINT, SIGTERM and SIGHUP."""
    for signum in SIGNALS:
        signal.signal(signum, handler)


class signals_deferred(object):
    """Hold SIGINT, SIGTERM and SIGHUP back while a state file changes."""

    def __enter__(self) -> None:
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)

    def __exit__(self, *exc: object) -> None:
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)


def undo(prefix: str, manifest: "Manifest", exc: BaseException) -> None:
    """Restore what a failed or interrupted run changed, then report the failure."""
    path = os.path.join(prefix, JOURNAL)
    try:
        found = records(path)[1] if os.path.lexists(io_path(path)) else []
        roll_back(path, found, target_finder(prefix))
        if os.path.lexists(io_path(path)):
            discard(path, replaced_paths(found), target_finder(prefix))
    except (OSError, ValueError, JournalError) as failure:
        raise UnpackError("%s, and restoring the files failed (%s): fix the cause and run conda-unpack again "
                          "to restore them" % (describe(exc), getattr(failure, "strerror", None) or failure))
    finally:
        clean_stale(prefix, manifest)
    if isinstance(exc, (OSError, PrefixError, UnsafePath, ValueError)):
        raise UnpackError("%s; nothing was changed: fix the cause and run conda-unpack again" % describe(exc))


def describe(exc: BaseException) -> str:
    where = getattr(exc, "filename", None)
    return "cannot relocate %s(%s)" % (where + " " if where else "", getattr(exc, "strerror", None) or exc)


def leftovers(prefix: str, manifest: "Manifest", beside_files: bool = True) -> "List[Tuple[str, str]]":
    """Temporary files of an earlier run that stopped: (temp, target) pairs, files first
    (only the state files' unless ``beside_files``)."""
    files = [entry.path for entry in manifest.entries] if beside_files else []
    paths = files + [os.path.join(STATE, name) for name in STATE_FILES]
    found, dirs = [], Dirs(prefix)
    for path in paths:
        target = os.path.join(prefix, path)
        tmp = target + SUFFIX
        if os.path.lexists(io_path(tmp)) and dirs.inside(os.path.dirname(tmp)):
            found.append((tmp, target))
    return found


def resume(prefix: str, manifest: "Manifest") -> None:
    """Finish a run that stopped while renaming: the leftover temps are the rest."""
    pending = read_state(prefix, "pending")
    if pending is None:
        return
    state = [os.path.join(prefix, STATE, name) for name in STATE_FILES]
    for tmp, target in leftovers(prefix, manifest):
        if stat.S_ISREG(os.lstat(io_path(tmp)).st_mode) and target not in state:
            os.replace(io_path(tmp), io_path(target))
    clean_stale(prefix, manifest)
    write_state(prefix, "prefix", pending)
    os.unlink(io_path(os.path.join(prefix, STATE, "pending")))


def clean_stale(prefix: str, manifest: "Manifest", beside_files: bool = True) -> None:
    """Remove temps left by a run that failed before committing (links themselves, not targets)."""
    discard_temps(leftovers(prefix, manifest, beside_files))


def finish_earlier_run(prefix: str, manifest: "Manifest", after_kill: bool) -> None:
    """Roll back a run that was killed (its journal), finish the shell implementation's
    renames (its ``pending``), and remove temporaries left behind.

    Every run that is not killed removes its own temporaries before it lets go of the
    mutex, so they are looked for beside every file (one lstat each) only after a kill:
    when the mutex was taken over or a journal was left; else beside the state files.
    """
    try:
        rolled_back = recover(os.path.join(prefix, JOURNAL), read_state(prefix, "prefix"), target_finder(prefix))
        resume(prefix, manifest)
        clean_stale(prefix, manifest, beside_files=after_kill or rolled_back)
    except JournalError as exc:
        raise UnpackError("%s; unpack the archive again" % exc)
    except (OSError, ValueError) as exc:
        raise UnpackError("cannot finish an earlier run in %s (%s); fix the cause and run conda-unpack again"
                          % (prefix, getattr(exc, "strerror", None) or exc))
