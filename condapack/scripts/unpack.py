"""conda-unpack: rewrite this environment's prefixes to where it now is.

Shipped inside every archive (as conda-meta/condapack/unpack.py) and run by
bin/conda-unpack with the environment's own Python or any Python >= 3.6 on the host,
so it uses the standard library only.

All-or-nothing: every rewritten file is first written beside its target; only when all
of them were written are they renamed into place. The manifest records the prefix the
files hold now, so the environment can be moved and unpacked again any number of times,
and running it twice in place does nothing the second time.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from rewrite import PrefixError, replace_binary, replace_text  # noqa: E402

MANIFEST = os.path.join("conda-meta", "condapack", "unpack.json")
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


def save_manifest(prefix, manifest):
    path = os.path.join(prefix, MANIFEST)
    tmp = path + SUFFIX
    with open(tmp, "wb") as fh:
        fh.write(json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())
    os.rename(tmp, path)


def rewrite(data, entry, old, new):
    """New content of one file, given its manifest entry [path, mode, capacity]."""
    if entry[1] == "binary":
        return replace_binary(data, old, new, int(entry[2]))
    return replace_text(data, old, new)


def prepare(prefix, manifest, new):
    """Write every changed file beside its target; return the (temp, target) pairs."""
    old = manifest["prefix"].encode("utf-8")
    new_b = new.encode("utf-8")
    written, errors = [], []
    for entry in manifest["files"]:
        target = os.path.join(prefix, entry[0])
        try:
            with open(target, "rb") as fh:
                data = fh.read()
            result = rewrite(data, entry, old, new_b)
            if result != data:
                written.append((write_beside(target, result), target))
        except (OSError, PrefixError) as exc:
            errors.append("%s: %s" % (entry[0], getattr(exc, "strerror", None) or exc))
    if errors:
        for tmp, _ in written:
            os.unlink(tmp)
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
    manifest["pending"] = new
    save_manifest(prefix, manifest)
    for tmp, target in written:
        os.rename(tmp, target)
    manifest.pop("pending")
    manifest["prefix"] = new
    save_manifest(prefix, manifest)


def resume(prefix, manifest):
    """Finish a run that stopped while renaming: the leftover temps are the rest."""
    pending = manifest.get("pending")
    if not pending:
        return
    for entry in manifest["files"]:
        tmp = os.path.join(prefix, entry[0]) + SUFFIX
        if os.path.exists(tmp):
            os.rename(tmp, tmp[: -len(SUFFIX)])
    manifest.pop("pending")
    manifest["prefix"] = pending
    save_manifest(prefix, manifest)


def clean_stale(prefix, manifest):
    """Remove temps left by a run that failed before committing."""
    for entry in manifest["files"]:
        tmp = os.path.join(prefix, entry[0]) + SUFFIX
        if os.path.exists(tmp):
            os.unlink(tmp)


def unpack(prefix, quiet=False):
    manifest = load_manifest(prefix)
    resume(prefix, manifest)
    clean_stale(prefix, manifest)
    if manifest["prefix"] == prefix:
        if not quiet:
            sys.stderr.write("conda-unpack: %s is already set up for this location\n" % prefix)
        return
    written = prepare(prefix, manifest, prefix)
    commit(prefix, manifest, prefix, written)
    if not quiet:
        sys.stderr.write("conda-unpack: relocated %d files to %s\n" % (len(written), prefix))


def main(argv):
    args = [a for a in argv[1:] if a not in ("-q", "--quiet")]
    if len(args) != 1:
        sys.stderr.write("usage: unpack.py PREFIX [-q]\n")
        return 2
    try:
        unpack(os.path.abspath(args[0]), quiet=len(args) != len(argv) - 1)
    except UnpackError as exc:
        sys.stderr.write("conda-unpack: error: %s\n" % exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
