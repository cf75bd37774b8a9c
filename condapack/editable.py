"""Detect editable (development-mode) Python installs, which cannot be relocated."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

from .errors import EnvError
from .layout import layout_for
from .records import PackageRecord

__all__ = ["find_editable", "check_no_editable"]


def check_no_editable(prefix: Path, packages: tuple[PackageRecord, ...]) -> None:
    """Raise when the environment holds editable installs that point outside it."""
    names = find_editable(prefix, packages)
    if names:
        raise EnvError(
            f"Cannot pack an environment with editable packages ({', '.join(names)}): they "
            "point at source trees outside the environment and would not work elsewhere; "
            "install them without -e, or pass --ignore-editable-packages to pack anyway"
        )


def find_editable(prefix: Path, packages: tuple[PackageRecord, ...]) -> list[str]:
    """Names of editable installs in the environment's site-packages, sorted."""
    site = _site_packages(prefix, packages)
    if site is None or not site.is_dir():
        return []
    names = set(_pep660(site)) | set(_egg_links(site)) | set(_pth_paths(prefix, site))
    return sorted(names)


def _site_packages(prefix: Path, packages: tuple[PackageRecord, ...]) -> Path | None:
    pythons = [r for r in packages if r.identity.name == "python"]
    if len(pythons) != 1:
        return None
    major_minor = ".".join(pythons[0].identity.version.split(".")[:2])
    return prefix / layout_for(p.subdir for p in packages).site_packages(major_minor)


def _pep660(site: Path) -> Iterator[str]:
    """``*.dist-info/direct_url.json`` with ``dir_info.editable`` (pip >= 21.3)."""
    for direct_url in sorted(site.glob("*.dist-info/direct_url.json")):
        try:
            data = json.loads(direct_url.read_bytes())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and (data.get("dir_info") or {}).get("editable") is True:
            yield direct_url.parent.name.split("-")[0]


def _egg_links(site: Path) -> Iterator[str]:
    """Legacy ``setup.py develop``: one ``NAME.egg-link`` per project."""
    for link in sorted(site.glob("*.egg-link")):
        yield link.stem


def _pth_paths(prefix: Path, site: Path) -> Iterator[str]:
    """Directories outside the prefix added to sys.path by ``.pth`` lines."""
    root = str(prefix).rstrip(os.sep) + os.sep
    for pth in sorted(site.glob("*.pth")):
        try:
            lines = pth.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            line = line.strip()
            if not line or line.startswith(("#", "import ", "import\t")):
                continue
            path = os.path.normpath(os.path.join(site, line))
            if not (path + os.sep).startswith(root) and os.path.isdir(path):
                yield os.path.basename(path.rstrip(os.sep)) or path
