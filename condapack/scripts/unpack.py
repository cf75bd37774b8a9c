"""conda-unpack: rewrite this environment's prefixes to where it now is.

Shipped inside every archive (as conda-meta/condapack/unpack.py) and run by
bin/conda-unpack with the environment's own Python or any Python >= 3.6 on the host,
so it uses the standard library only.

All-or-nothing: every rewritten file is first written beside its target; only when all
of them were written are they renamed into place. The file ``prefix`` records the
location the files hold now, so the environment can be moved and unpacked again any
number of times, and running it twice in place does nothing the second time. The POSIX
shell implementation (unpack.sh, for hosts without Python) follows the same steps on
the same files and gives the same bytes.
"""

import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from rewrite import PrefixError, check_capacity, render_field, replace_text  # noqa: E402

STATE = os.path.join("conda-meta", "condapack")
MANIFEST = os.path.join(STATE, "unpack.json")
SUFFIX = ".condapack-unpack"


class UnpackError(Exception):
    """A failure reported to the user as one line."""


def load_manifest(prefix):
    path = os.path.join(prefix, MANIFEST)
    try:
        with open(path, "rb") as fh:
            return json.loads(fh.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise UnpackError("cannot read %s (%s); unpack the archive again" % (path, exc))


def read_state(prefix, name):
    """The prefix recorded in the state file ``name`` ('prefix' or 'pending'), or None."""
    try:
        with open(os.path.join(prefix, STATE, name), "rb") as fh:
            return fh.read().decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        return None


def write_state(prefix, name, value):
    path = os.path.join(prefix, STATE, name)
    with open(path + SUFFIX, "wb") as fh:
        fh.write(value.encode("utf-8", "surrogateescape"))
        fh.flush()
        os.fsync(fh.fileno())
    os.rename(path + SUFFIX, path)


def prepare_one(prefix, entry, old, new):
    """Write one file's new content beside it; return the temp, or None if unchanged."""
    target = os.path.join(prefix, entry[0])
    if entry[1] == "binary":
        return patch_binary(target, entry, new)
    with open(target, "rb") as fh:
        data = fh.read()
    result = replace_text(data, old, new)
    return write_beside(target, result) if result != data else None


def patch_binary(target, entry, new):
    """A copy of a binary with each recorded field overwritten: never read whole."""
    _path, _mode, capacity, fields = entry
    if not fields:
        return None
    check_capacity(new, int(capacity))
    rendered = [(off, render_field([bytes.fromhex(p) for p in parts], length, new))
                for off, length, parts in fields]
    tmp = target + SUFFIX
    shutil.copyfile(target, tmp)
    os.chmod(tmp, os.stat(target).st_mode & 0o7777)
    fd = os.open(tmp, os.O_WRONLY)
    try:
        for off, data in rendered:
            os.pwrite(fd, data, off)
    finally:
        os.close(fd)
    return tmp


def prepare(prefix, manifest, old, new):
    """Write every changed file beside its target; return the (temp, target) pairs."""
    old = old.encode("utf-8", "surrogateescape")
    new_b = new.encode("utf-8", "surrogateescape")
    written, errors = [], []
    for entry in manifest["files"]:
        try:
            tmp = prepare_one(prefix, entry, old, new_b)
            if tmp is not None:
                written.append((tmp, os.path.join(prefix, entry[0])))
        except (OSError, PrefixError) as exc:
            errors.append("%s: %s" % (entry[0], getattr(exc, "strerror", None) or exc))
    if errors:
        clean_stale(prefix, manifest)
        raise UnpackError(
            "cannot relocate %d files to %s (%s); nothing was changed: fix the cause "
            "(or choose a shorter path) and run conda-unpack again"
            % (len(errors), new, "; ".join(errors[:3]) + (" ..." if len(errors) > 3 else ""))
        )
    return written


def write_beside(target, data):
    tmp = target + SUFFIX
    mode = os.stat(target).st_mode & 0o7777
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, mode)
    return tmp


def commit(prefix, manifest, new, written):
    """Rename the prepared files into place, recording progress for a resume."""
    write_state(prefix, "pending", new)
    for tmp, target in written:
        os.rename(tmp, target)
    write_state(prefix, "prefix", new)
    os.unlink(os.path.join(prefix, STATE, "pending"))


def resume(prefix, manifest):
    """Finish a run that stopped while renaming: the leftover temps are the rest."""
    pending = read_state(prefix, "pending")
    if pending is None:
        return
    for entry in manifest["files"]:
        tmp = os.path.join(prefix, entry[0]) + SUFFIX
        if os.path.exists(tmp):
            os.rename(tmp, tmp[: -len(SUFFIX)])
    write_state(prefix, "prefix", pending)
    os.unlink(os.path.join(prefix, STATE, "pending"))


def clean_stale(prefix, manifest):
    """Remove temps left by a run that failed before committing."""
    for entry in manifest["files"]:
        tmp = os.path.join(prefix, entry[0]) + SUFFIX
        if os.path.exists(tmp):
            os.unlink(tmp)


def unpack(prefix, dest=None, quiet=False):
    """Relocate the environment at ``prefix`` for ``dest`` (default: where it is)."""
    dest = dest or prefix
    manifest = load_manifest(prefix)
    resume(prefix, manifest)
    clean_stale(prefix, manifest)
    old = read_state(prefix, "prefix")
    if old is None:
        raise UnpackError("%s is missing; unpack the archive again" % os.path.join(prefix, STATE, "prefix"))
    if old == dest:
        if not quiet:
            sys.stderr.write("conda-unpack: %s is already set up for this location\n" % dest)
        return
    written = prepare(prefix, manifest, old, dest)
    commit(prefix, manifest, dest, written)
    if not quiet:
        sys.stderr.write("conda-unpack: relocated %d files to %s\n" % (len(written), dest))


USAGE = "usage: unpack.py PREFIX [-q] [--dest FINAL]\n"


def parse(argv):
    """(prefix, dest or None, quiet) from the command line, or None when it is wrong."""
    args, dest, quiet = [], None, False
    rest = list(argv[1:])
    while rest:
        arg = rest.pop(0)
        if arg in ("-q", "--quiet"):
            quiet = True
        elif arg == "--dest" and rest:
            dest = os.path.abspath(rest.pop(0))
        else:
            args.append(arg)
    if len(args) != 1:
        return None
    return os.path.abspath(args[0]), dest, quiet


def main(argv):
    parsed = parse(argv)
    if parsed is None:
        sys.stderr.write(USAGE)
        return 2
    try:
        unpack(parsed[0], dest=parsed[1], quiet=parsed[2])
    except UnpackError as exc:
        sys.stderr.write("conda-unpack: error: %s\n" % exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
