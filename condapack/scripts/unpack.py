"""conda-unpack: rewrite this environment's prefixes to where it now is.

Shipped inside every archive (as conda-meta/condapack/unpack.py) and run by
bin/conda-unpack (Scripts\\conda-unpack.exe on Windows) with the environment's own
Python or any Python >= 3.6 on the host, so it uses the standard library only. A
Windows manifest says ``"windows": true``: the prefix is then rewritten in each of its
three spellings, and the files are opened by their long-path form when needed.

Files change in place: a binary gets each C string holding the prefix overwritten at
the offsets recorded at pack time, a text file is rewritten where it is (streamed when
large), so only the files holding the prefix are touched and memory stays small
whatever their size. All-or-nothing: everything is checked before anything changes,
and the bytes each change replaces go to a journal first (journal.py), so a failure or
an interrupt restores them and a run killed outright is rolled back by the next one.
The file ``prefix`` records the location the files hold now, so the environment can be
moved and unpacked again any number of times, and running it twice in place does
nothing the second time. The POSIX shell implementation (unpack.sh, for hosts without
Python) changes the same files and gives the same bytes.

It never writes through a symbolic link nor outside the prefix: every manifest path is
checked with safepath (relative, no ``..``), must resolve inside the prefix and be a
regular file, opened with ``O_NOFOLLOW``; temporary files are created with
``O_EXCL | O_NOFOLLOW``. Runs in one
prefix are serialised with a lock (the same lock directory as unpack.sh's), and
SIGTERM/SIGHUP are handled like Ctrl-C.
"""

import errno
import os
import stat
import sys
import time

try:  # signal's C module: signal itself imports enum (8 ms with a compiled standard library)
    import _signal as signal
except ImportError:  # pragma: no cover
    import signal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from inplace import SUFFIX, change, create_beside, discard_temps, open_target  # noqa: E402
from journal import (Journal, JournalError, discard, open_regular, parse_json, read_at, recover, records,  # noqa: E402
                     replaced_paths, roll_back)
from quoting import location_problem  # noqa: E402
from rewrite import PrefixError, check_capacity, render_field, render_windows_field  # noqa: E402
from safepath import UnsafePath, absolute_path, inside, io_path, is_link, relative_path  # noqa: E402

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock
    fcntl = None

STATE = os.path.join("conda-meta", "condapack")
MANIFEST = os.path.join(STATE, "unpack.json")
STATE_FILES = ("prefix", "pending")
LOCK = os.path.join(STATE, "unpack.lock")
JOURNAL = os.path.join(STATE, "journal")
MANIFEST_LIMIT = 1 << 30  # an entry per relocated file: far less, whatever the environment
STATE_LIMIT = 1 << 20  # a location, or a process id
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # Windows has none: there lstat is the check
_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class UnpackError(Exception):
    """A failure reported to the user as one line."""


def same_place(a, b):
    return os.path.normcase(a) == os.path.normcase(b)


def open_read(path):
    """``path``, a regular file, opened for reading in binary, never through a final symbolic link."""
    return os.fdopen(open_regular(path), "rb")


def read_bounded(path, limit):
    """The bytes of regular file ``path``; more than ``limit`` of them is an OSError."""
    with open_read(path) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, "larger than %d MiB" % (limit >> 20))
    return data


def load_manifest(prefix):
    path = os.path.join(prefix, MANIFEST)
    try:
        manifest = parse_json(read_bounded(path, MANIFEST_LIMIT).decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise UnpackError("cannot read %s (%s); unpack the archive again" % (path, exc))
    problem = manifest_problem(manifest)
    if problem:
        raise UnpackError("%s is malformed (%s); unpack the archive again" % (path, problem))
    return manifest


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _field_ok(field, windows):
    """[offset, length, parts as hex], and on Windows the spelling (0-2) at each split."""
    if not (isinstance(field, list) and len(field) == 3 + windows and _is_int(field[0]) and _is_int(field[1])
            and isinstance(field[2], list) and len(field[2]) >= 2 and all(isinstance(p, str) for p in field[2])):
        return False
    return not windows or (isinstance(field[3], list) and len(field[3]) == len(field[2]) - 1
                           and all(_is_int(s) and s < 3 for s in field[3]))


def manifest_problem(manifest):
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


def read_state(prefix, name):
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


def write_state(prefix, name, value):
    path = os.path.join(prefix, STATE, name)
    os.replace(io_path(create_beside(path, [value.encode("utf-8", "surrogateescape")], 0o644)), io_path(path))


def checked_target(prefix, rel, dirs=None):
    """The path of a manifest file, refused unless it is a regular file inside ``prefix``."""
    target = os.path.join(prefix, relative_path(rel))
    if not (dirs or Dirs(prefix)).inside(os.path.dirname(target)):
        raise UnsafePath("is below a symbolic link that leaves the environment")
    st = os.lstat(io_path(target))
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePath("is not a regular file (conda-unpack never writes through a symbolic link)")
    return target, st


class Dirs(object):
    """Which directories below a prefix resolve inside it, each found once: one lstat
    per directory, a realpath only for symbolic links (and Windows junctions)."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.known = {prefix: True}

    def inside(self, directory):
        ok = self.known.get(directory)
        if ok is None:
            parent = os.path.dirname(directory)
            ok = parent != directory and self.inside(parent) and self._resolves_inside(directory)
            self.known[directory] = ok
        return ok

    def _resolves_inside(self, directory):
        try:
            st = os.lstat(io_path(directory))
        except OSError:
            return False
        if is_link(st):
            return os.path.isdir(io_path(directory)) and inside(self.prefix, directory)
        return stat.S_ISDIR(st.st_mode)


def prepare(prefix, manifest, old, new):
    """Check every file before anything changes; return the work: (rel, target, stat,
    patches) with the binaries' new fields, None for text. Nothing is written."""
    work, errors, dirs = [], [], Dirs(prefix)
    windows = manifest.get("windows", False)
    for entry in manifest["files"]:
        try:
            target, st = checked_target(prefix, entry[0], dirs)
            patches = binary_patches(target, st, entry, old, new, windows) if entry[1] == "binary" else None
            if patches != []:
                work.append((entry[0], target, st, patches))
        except (OSError, PrefixError, UnsafePath, ValueError) as exc:
            errors.append("%s: %s" % (entry[0], getattr(exc, "strerror", None) or exc))
    if errors:
        raise UnpackError(
            "cannot relocate %d files to %s (%s); nothing was changed: fix the cause "
            "(or choose a shorter path) and run conda-unpack again"
            % (len(errors), new.decode("utf-8", "surrogateescape"),
               "; ".join(errors[:3]) + (" ..." if len(errors) > 3 else ""))
        )
    return work


def binary_patches(target, st, entry, old, new, windows):
    """(offset, new bytes) of each recorded field, checked against the file: it must hold
    the recorded prefix there (else it changed since it was packed; on Windows, where a
    drive letter may be spelled in either case, only the length is checked)."""
    _path, _mode, capacity, fields = entry
    if not fields:
        return []
    check_capacity(new, int(capacity))
    if any(field[0] + field[1] > st.st_size for field in fields):
        raise ValueError("a recorded field lies beyond the end of the file")
    fd = open_target(target, st)
    try:
        patches = []
        for field in fields:
            current = read_at(fd, field[1], field[0])
            if len(current) != field[1] or not windows and current != render(field, old, windows):
                raise ValueError("does not hold the recorded prefix at offset %d (it changed since it was "
                                 "packed); unpack the archive again" % field[0])
            patches.append((field[0], render(field, new, windows)))
        return patches
    finally:
        os.close(fd)


def render(field, new, windows):
    """A field's new bytes: [offset, length, parts as hex] (+ the spellings on Windows)."""
    parts = [bytes.fromhex(p) for p in field[2]]
    if windows:
        return render_windows_field(parts, field[3], field[1], new)
    return render_field(parts, field[1], new)


def apply(journal, work, old, new, windows):
    """Change every file, its original bytes journaled first; return how many changed."""
    return sum(change(journal, rel, target, st, patches, old, new, windows) for rel, target, st, patches in work)


def undo(prefix, manifest, exc):
    """Restore what a failed or interrupted run changed, then report the failure."""
    path = os.path.join(prefix, JOURNAL)
    try:
        _header, found = records(path) if os.path.lexists(io_path(path)) else (None, [])
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


def describe(exc):
    where = getattr(exc, "filename", None)
    return "cannot relocate %s(%s)" % (where + " " if where else "", getattr(exc, "strerror", None) or exc)


def target_finder(prefix):
    """``checked_target`` for the journal's paths, with one directory cache."""
    dirs = Dirs(prefix)
    return lambda rel: checked_target(prefix, rel, dirs)


class signals_deferred(object):
    def __enter__(self):
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)

    def __exit__(self, *exc):
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)


def leftovers(prefix, manifest, beside_files=True):
    """Temporary files of an earlier run that stopped: (temp, target) pairs, files first
    (only the state files' unless ``beside_files``)."""
    files = [entry[0] for entry in manifest["files"]] if beside_files else []
    paths = files + [os.path.join(STATE, name) for name in STATE_FILES]
    found, dirs = [], Dirs(prefix)
    for path in paths:
        target = os.path.join(prefix, path)
        tmp = target + SUFFIX
        if os.path.lexists(io_path(tmp)) and dirs.inside(os.path.dirname(tmp)):
            found.append((tmp, target))
    return found


def resume(prefix, manifest):
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


def clean_stale(prefix, manifest, beside_files=True):
    """Remove temps left by a run that failed before committing (links themselves, not targets)."""
    discard_temps(leftovers(prefix, manifest, beside_files))


def locked(prefix):
    """Hold this prefix's unpack lock (another conda-unpack here waits for it)."""
    directory = os.path.join(prefix, STATE)
    if not inside(prefix, directory):
        raise UnpackError("%s is a symbolic link out of the environment; unpack the archive again" % directory)
    if fcntl is None:  # Windows: no flock (nor a descriptor of a directory); the lock directory serialises
        return None
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError as exc:
        raise UnpackError("cannot open %s (%s); unpack the archive again" % (directory, exc.strerror))
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def take_lock_dir(prefix):
    """Hold the lock directory the shell implementation takes too: mkdir, then our pid.
    Return its path and whether an earlier run was killed holding it.

    A lock whose owner is gone (killed), or that stays without a pid for 5 s (its owner
    was killed between the two steps), is taken over; a live one is waited for.
    """
    path = os.path.join(prefix, LOCK)
    pidless, taken_over = 0, False
    while True:
        try:
            os.mkdir(io_path(path))
            break
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(io_path(path)).st_mode):
                raise UnpackError("%s is not a directory; remove it and run conda-unpack again" % path)
        except OSError as exc:
            raise UnpackError("cannot create %s (%s); check the permissions of the environment"
                              % (path, exc.strerror))
        owner = lock_owner(path)
        pidless = pidless + 1 if owner is None else 0 if alive(owner) else 5
        if pidless >= 5:
            release_lock_dir(path)
            pidless, taken_over = 0, True
        else:
            time.sleep(1)
    try:
        fd = os.open(io_path(os.path.join(path, "pid")), os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
    except BaseException:
        release_lock_dir(path)
        raise
    return path, taken_over


def lock_owner(path):
    try:
        return int(read_bounded(os.path.join(path, "pid"), STATE_LIMIT).decode("ascii"))
    except (OSError, ValueError):
        return None


def alive(pid):
    if os.name == "nt":
        return windows_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process
    return True


def windows_alive(pid):
    # Not os.kill(pid, 0): on Windows that terminates the process.
    import ctypes
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.restype = ctypes.c_void_p
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.get_last_error() == 5  # ERROR_ACCESS_DENIED: another user's live process
    try:
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(ctypes.c_void_p(handle), ctypes.byref(code))
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(ctypes.c_void_p(handle))


def release_lock_dir(path):
    for remove in (lambda: os.unlink(io_path(os.path.join(path, "pid"))), lambda: os.rmdir(io_path(path))):
        try:
            remove()
        except OSError:
            pass


def unpack(prefix, dest=None, quiet=False):
    """Relocate the environment at ``prefix`` for ``dest`` (default: where it is).

    Python runs wait for each other on a flock; every run, shell or Python, then holds
    the lock directory.
    """
    fd = locked(prefix)
    try:
        lock, killed = take_lock_dir(prefix)
        try:
            relocate(prefix, dest or prefix, quiet, killed)
        finally:
            release_lock_dir(lock)
    finally:
        if fd is not None:
            os.close(fd)


def relocate(prefix, dest, quiet, after_kill):
    manifest = load_manifest(prefix)
    problem = location_problem(dest, manifest.get("windows", False))
    if problem:
        raise UnpackError("%s; choose another location" % problem)
    finish_earlier_run(prefix, manifest, after_kill)
    old = read_state(prefix, "prefix")
    if old is None:
        raise UnpackError("%s is missing; unpack the archive again" % os.path.join(prefix, STATE, "prefix"))
    if old == dest or (manifest.get("windows") and same_place(old, dest)):
        if not quiet:
            sys.stderr.write("conda-unpack: %s is already set up for this location\n" % dest)
        return
    old_b, new_b = (p.encode("utf-8", "surrogateescape") for p in (old, dest))
    work = prepare(prefix, manifest, old_b, new_b)
    try:
        journal = Journal(os.path.join(prefix, JOURNAL), old, dest)
        try:
            changed = apply(journal, work, old_b, new_b, manifest.get("windows", False))
        finally:
            journal.close()
        with signals_deferred():
            write_state(prefix, "prefix", dest)  # the run is done once this is renamed into place
    except BaseException as exc:
        with signals_deferred():
            undo(prefix, manifest, exc)
        raise
    with signals_deferred():
        try:
            discard(journal.path, journal.replaced_paths, target_finder(prefix))
        except OSError:
            pass  # the next run sees that this one completed, and removes it
    if not quiet:
        sys.stderr.write("conda-unpack: relocated %d files to %s\n" % (changed, dest))


def finish_earlier_run(prefix, manifest, after_kill):
    """Roll back a run that was killed (its journal), finish the shell implementation's
    renames (its ``pending``), and remove temporaries left behind.

    Every run that is not killed removes its own temporaries before it lets go of the
    lock, so they are looked for beside every file (one lstat each) only after a kill:
    when the lock was taken over or a journal was left; else beside the state files.
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


USAGE = "usage: unpack.py PREFIX [-q] [--dest FINAL]\n"
#: The condapack that packed this environment (filled in when it is packed).
VERSION = "@CONDAPACK_VERSION@"
HELP = """usage: conda-unpack [-h] [--version] [-v] [-q]

Finish unpacking the environment after unarchiving: rewrite the prefixes recorded in
its files to its current location. Safe to run again, and again after every move.

options:
  -h, --help     show this help message and exit
  --version      show the version of condapack that packed this environment and exit
  -v, --verbose  accepted for conda-pack's conda-unpack (a summary line is always shown)
  -q, --quiet    show nothing unless something fails
"""


def parse(argv):
    """(prefix, dest or None, quiet) from the command line, or None when it is wrong."""
    args, dest, quiet = [], None, False
    rest = list(argv[1:])
    while rest:
        arg = rest.pop(0)
        if arg in ("-q", "--quiet"):
            quiet = True
        elif arg in ("-v", "--verbose"):
            pass
        elif arg == "--dest" and rest:
            dest = os.path.abspath(rest.pop(0))
        else:
            args.append(arg)
    if len(args) != 1:
        return None
    return os.path.abspath(args[0]), dest, quiet


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv):
    if any(arg in ("-h", "--help") for arg in argv[1:]):
        sys.stdout.write(HELP)
        return 0
    if "--version" in argv[1:]:
        sys.stdout.write("conda-unpack %s (condapack)\n" % VERSION)
        return 0
    parsed = parse(argv)
    if parsed is None:
        sys.stderr.write(USAGE)
        return 2
    for signum in _SIGNALS:
        signal.signal(signum, _interrupt)
    try:
        unpack(parsed[0], dest=parsed[1], quiet=parsed[2])
    except UnpackError as exc:
        sys.stderr.write("conda-unpack: error: %s\n" % exc)
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("conda-unpack: interrupted; nothing is left half done: run conda-unpack again to "
                         "relocate the environment\n")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
