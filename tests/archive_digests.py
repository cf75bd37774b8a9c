"""Print the sha256 of an archive of every format for one fixed environment (a refactor's check).

Run it with the code before and after a change and compare the output: archives are
byte-reproducible, so a change that keeps behaviour keeps every digest::

    python tests/archive_digests.py WORKDIR [OUTDIR] > before.json

``WORKDIR`` must be the same path for both runs (prefixes are written into files); the
environment (the ``basic`` scenario of :mod:`envkit`) is installed there once and reused.
The archives go to ``OUTDIR`` (default ``WORKDIR/out``), emptied first.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import envkit
from condapack import CondaPackError, pack
from condapack.archive.formats import FORMATS

#: Option sets packed for every format (each changes some format's bytes).
VARIANTS: dict[str, dict[str, object]] = {
    "default": {},
    "level-1-threads-2": {"compress_level": 1, "n_threads": 2},
    "dest-prefix": {"dest_prefix": "/opt/app", "arcroot": "app"},
    # a blank in the location: entry points get the /bin/sh trampoline at pack time
    "dest-prefix-blank": {"dest_prefix": "/opt/my app", "arcroot": "app"},
    "zip-symlinks": {"zip_symlinks": True},
}


def _digest(path: Path) -> str:
    if path.is_dir():
        digest = hashlib.sha256()
        for item in sorted(path.rglob("*")):
            rel = item.relative_to(path).as_posix()
            data = os.readlink(item).encode() if item.is_symlink() else item.read_bytes() if item.is_file() else b""
            digest.update(f"{rel} {item.is_symlink()} {os.access(item, os.X_OK)} ".encode() + data)
        return digest.hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(workdir: Path, out_dir: Path) -> dict[str, str]:
    """Pack every format and variant into ``out_dir``; return name -> sha256."""
    shutil.rmtree(out_dir, ignore_errors=True)
    prefix = workdir / "env"
    if not (prefix / "conda-meta").is_dir():
        envkit.create_env("basic", prefix, envkit.build_channel())
    out: dict[str, str] = {}
    for fmt in FORMATS:
        for variant, options in VARIANTS.items():
            output = out_dir / variant / f"env-{fmt}"
            kwargs: dict[str, Any] = {**options, "parcel_version": "1.0"} if fmt == "parcel" else dict(options)
            try:
                pack(prefix=str(prefix), output=str(output), format=fmt, force=True, **kwargs)
            except CondaPackError as exc:  # e.g. --dest-prefix with a self-installing format
                out[f"{fmt} {variant}"] = f"error: {exc}"
                continue
            out[f"{fmt} {variant}"] = _digest(output)
    return out


if __name__ == "__main__":
    work = Path(sys.argv[1]).resolve()
    print(json.dumps(main(work, Path(sys.argv[2]).resolve() if len(sys.argv) > 2 else work / "out"), indent=1,
                     sort_keys=True))
