"""conda-unpack's command line: rewrite this environment's prefixes to where it now is.

Shipped inside every archive (as the package ``conda-meta/condapack/unpack/``) and run by
bin/conda-unpack (Scripts\\conda-unpack.exe on Windows) with the environment's own
Python or any Python >= 3.6 on the host, so it uses the standard library only. A
Windows manifest says so: the prefix is then rewritten in each of its three spellings,
and the files are opened by their long-path form when needed.

The file ``prefix`` records the location the files hold now, so the environment can be
moved and unpacked again any number of times, and running it twice in place does
nothing the second time. The POSIX shell implementation (``unpack.sh``, for hosts
without Python) changes the same files and gives the same bytes.

It never writes through a symbolic link nor outside the prefix: every manifest path is
checked with safepath (relative, no ``..``), must resolve inside the prefix and be a
regular file, opened with ``O_NOFOLLOW``; temporary files are created with
``O_EXCL | O_NOFOLLOW``. Runs in one prefix are serialised by the mutex (``mutex.py``),
and SIGTERM/SIGHUP are handled like Ctrl-C.
"""

import os
import sys

from .mutex import flocked, release_mutex_dir, take_mutex_dir
from .relocate import relocate
from .state import UnpackError
from .undo import on_signals

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType
    from typing import List, Optional, Sequence, Tuple

USAGE = "usage: python conda-meta/condapack/unpack PREFIX [-q] [--dest FINAL]\n"
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


def unpack(prefix: str, dest: "Optional[str]" = None, quiet: bool = False) -> None:
    """Relocate the environment at ``prefix`` for ``dest`` (default: where it is), holding the mutex."""
    fd = flocked(prefix)
    try:
        mutex, killed = take_mutex_dir(prefix)
        try:
            relocate(prefix, dest or prefix, quiet, killed)
        finally:
            release_mutex_dir(mutex)
    finally:
        if fd is not None:
            os.close(fd)


def parse(argv: "Sequence[str]") -> "Optional[Tuple[str, Optional[str], bool]]":
    """(prefix, dest or None, quiet) from the command line, or None when it is wrong."""
    args: "List[str]" = []
    dest: "Optional[str]" = None
    quiet = False
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


def _interrupt(signum: int, frame: "Optional[FrameType]") -> None:
    raise KeyboardInterrupt


def main(argv: "Sequence[str]") -> int:
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
    on_signals(_interrupt)
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
