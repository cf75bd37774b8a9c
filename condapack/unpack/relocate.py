"""One conda-unpack run: check every file, then change them in place, journaled, or not at all.

Files change in place: a binary gets each C string holding the prefix overwritten at
the offsets recorded at pack time, a text file is rewritten where it is (streamed when
large), so only the files holding the prefix are touched and memory stays small
whatever their size. All-or-nothing: everything is checked before anything changes,
and the bytes each change replaces go to a journal first, so a failure or an interrupt
restores them and a run killed outright is rolled back by the next one (``undo.py``).
"""

import os
import sys

from .inplace import change, open_target
from .journal import Journal, discard, read_at
from .manifest import load_manifest
from .quoting import location_problem
from .rewrite import PrefixError, check_capacity, render_field, render_windows_field
from .safepath import UnsafePath
from .state import JOURNAL, STATE, UnpackError, read_state, same_place, write_state
from .targets import Dirs, checked_target, target_finder
from .undo import finish_earlier_run, signals_deferred, undo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Sequence, Tuple

    from .manifest import Entry, Manifest
    from .rewrite import Field

    Patches = Optional[List[Tuple[int, bytes]]]
    #: A file to change: (path in the manifest, its path, its lstat, a binary's new fields or None).
    Work = Tuple[str, str, os.stat_result, Patches]


def relocate(prefix: str, dest: str, quiet: bool, after_kill: bool) -> None:
    """Set the environment at ``prefix`` up for ``dest``; the caller holds the mutex."""
    manifest = load_manifest(prefix)
    problem = location_problem(dest, manifest.windows)
    if problem:
        raise UnpackError("%s; choose another location" % problem)
    finish_earlier_run(prefix, manifest, after_kill)
    old = read_state(prefix, "prefix")
    if old is None:
        raise UnpackError("%s is missing; unpack the archive again" % os.path.join(prefix, STATE, "prefix"))
    if old == dest or (manifest.windows and same_place(old, dest)):
        if not quiet:
            sys.stderr.write("conda-unpack: %s is already set up for this location\n" % dest)
        return
    changed = commit(prefix, manifest, old, dest)
    if not quiet:
        sys.stderr.write("conda-unpack: relocated %d files to %s\n" % (changed, dest))


def commit(prefix: str, manifest: "Manifest", old: str, dest: str) -> int:
    """Change every file and record ``dest``, or restore them all; how many changed."""
    old_b, new_b = (p.encode("utf-8", "surrogateescape") for p in (old, dest))
    work = prepare(prefix, manifest, old_b, new_b)
    try:
        journal = Journal(os.path.join(prefix, JOURNAL), old, dest)
        try:
            changed = apply(journal, work, old_b, new_b, manifest.windows)
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
    return changed


def prepare(prefix: str, manifest: "Manifest", old: bytes, new: bytes) -> "List[Work]":
    """Check every file before anything changes; return the work: (rel, target, stat,
    patches) with the binaries' new fields, None for text. Nothing is written."""
    work, errors, dirs = [], [], Dirs(prefix)
    for entry in manifest.entries:
        try:
            target, st = checked_target(prefix, entry.path, dirs)
            patches = binary_patches(target, st, entry, old, new, manifest.windows) if entry.mode == "binary" else None
            if patches != []:
                work.append((entry.path, target, st, patches))
        except (OSError, PrefixError, UnsafePath, ValueError) as exc:
            errors.append("%s: %s" % (entry.path, getattr(exc, "strerror", None) or exc))
    if errors:
        raise UnpackError(
            "cannot relocate %d files to %s (%s); nothing was changed: fix the cause "
            "(or choose a shorter path) and run conda-unpack again"
            % (len(errors), new.decode("utf-8", "surrogateescape"),
               "; ".join(errors[:3]) + (" ..." if len(errors) > 3 else ""))
        )
    return work


def binary_patches(target: str, st: os.stat_result, entry: "Entry", old: bytes, new: bytes,
                   windows: bool) -> "List[Tuple[int, bytes]]":
    """(offset, new bytes) of each recorded field, checked against the file: it must hold
    the recorded prefix there (else it changed since it was packed; on Windows, where a
    drive letter may be spelled in either case, only the length is checked)."""
    if not entry.fields:
        return []
    check_capacity(new, entry.capacity)
    if any(offset + length > st.st_size for offset, length, _ in entry.fields):
        raise ValueError("a recorded field lies beyond the end of the file")
    fd = open_target(target, st)
    try:
        patches = []
        for field, spellings in zip(entry.fields, entry.spellings or [[]] * len(entry.fields)):
            offset, length, _ = field
            current = read_at(fd, length, offset)
            if len(current) != length or not windows and current != render(field, spellings, old, windows):
                raise ValueError("does not hold the recorded prefix at offset %d (it changed since it was "
                                 "packed); unpack the archive again" % offset)
            patches.append((offset, render(field, spellings, new, windows)))
        return patches
    finally:
        os.close(fd)


def render(field: "Field", spellings: "Sequence[int]", new: bytes, windows: bool) -> bytes:
    """A field's bytes with ``new`` at each split (in its recorded spelling on Windows)."""
    _offset, length, parts = field
    if windows:
        return render_windows_field(parts, spellings, length, new)
    return render_field(parts, length, new)


def apply(journal: Journal, work: "List[Work]", old: bytes, new: bytes, windows: bool) -> int:
    """Change every file, its original bytes journaled first; return how many changed."""
    return sum(change(journal, rel, target, st, patches, old, new, windows) for rel, target, st, patches in work)
