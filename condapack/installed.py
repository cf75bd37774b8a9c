"""Where a Windows environment was installed, as its files spell it, on any OS.

A Windows environment read on Linux (a CI machine packing for Windows) lies at a
POSIX path, but its files hold the Windows prefix it was installed at. That prefix is
recovered exactly from a file with a text placeholder: the candidate path that, put
back in place of the placeholder, gives the file the package shipped (its recorded
sha256). Windows itself is read the same way, so both OSes give the same archive.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Iterator, Optional, Sequence

from .errors import EnvError
from .records import ManagedPath, PackageRecord
from .unpack.rewrite import windows_prefix

__all__ = ["windows_home"]

_DRIVE = re.compile(rb"[A-Za-z]:[\\/]")
# Characters that end a path in the files conda writes placeholders into.
_PATH_END = re.compile(rb"[\0\r\n\"'<>|*?]")
_LARGEST = 1 << 20
_TRIES = 8


def windows_home(prefix: Path, packages: Sequence[PackageRecord]) -> str:
    """The prefix the files of the Windows environment at ``prefix`` hold."""
    for tried, (path, mp) in enumerate(_candidates(packages)):
        if tried == _TRIES:
            break
        found = _home_in(prefix / path, mp)
        if found is not None:
            return windows_prefix(found)
    if os.name == "nt":
        return str(prefix)
    raise EnvError(
        f"{prefix}: cannot tell where this Windows environment was installed (no file with a "
        "text prefix placeholder still holds it); pack it on Windows"
    )


def _candidates(packages: Sequence[PackageRecord]) -> Iterator[tuple[str, ManagedPath]]:
    for record in packages:
        for mp in record.paths:
            if mp.file_mode == "text" and mp.placeholder and mp.sha256:
                yield mp.path, mp


def _home_in(path: Path, mp: ManagedPath) -> Optional[str]:
    try:
        if path.stat().st_size > _LARGEST:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    placeholder = (mp.placeholder or "").encode()
    for match in _DRIVE.finditer(data):
        start = match.start()
        stop = _PATH_END.search(data, start)
        for end in range(stop.start() if stop else len(data), start + 2, -1):
            candidate = data[start:end]
            if hashlib.sha256(data.replace(candidate, placeholder)).hexdigest() == mp.sha256:
                return candidate.decode("utf-8", "surrogateescape")
    return None
