"""``condapack size``: where an environment's or an archive's bytes go, and what slimming would save."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional, Sequence

from ..errors import ArchiveError
from ..layout import POSIX, WINDOWS
from ..prefix import read_prefix
from ..slim import SLIM_FILE, compile_patterns
from .analyse import analyse, env_savings, items_of_reading, kind_of, package_of, removed_saving, savings
from .archive import read_archive
from .html import render_html, write_html
from .model import GENERATED, Item, Saving, Share, SizeReport
from .render import render_text, report_doc

__all__ = ["size_of", "size_environment", "size_archive", "SizeReport", "Item", "Share", "Saving",
           "render_text", "render_html", "report_doc", "write_html"]


def size_of(source: str, *, slim: Sequence[str] = (), exclude: Sequence[str] = ()) -> SizeReport:
    """The report for an environment directory or an archive file."""
    compile_patterns(exclude)  # a pattern that selects nothing is an error before anything is read
    if os.path.isfile(source):
        return size_archive(source, slim=slim, exclude=exclude)
    return size_environment(Path(source), slim=slim, exclude=exclude)


def size_environment(prefix: Path, *, slim: Sequence[str] = (), exclude: Sequence[str] = ()) -> SizeReport:
    """The report for the environment at ``prefix``, from one read of it."""
    reading = read_prefix(prefix)
    items = items_of_reading(reading)
    versions = {p.identity.name: p.identity.version for p in reading.packages}
    saved = env_savings(reading, items, slim, exclude) if slim or exclude else []
    return analyse(str(prefix), "environment", items, versions=versions, saved=saved)


def size_archive(path: str, *, slim: Sequence[str] = (), exclude: Sequence[str] = ()) -> SizeReport:
    """The report for a tar-based or zip archive, from its members and its package records."""
    contents = read_archive(path)
    owners, versions = _owners(contents.metadata)
    items = []
    for m in contents.members:
        package = package_of(m.name, owners.get(m.name) or _GENERATED.get(m.name))
        items.append(Item(m.name, m.size, m.stored, package, kind_of(m.name, package)))
    removed: Optional[Saving] = None
    if SLIM_FILE in contents.metadata:
        removed = removed_saving(_json(path, SLIM_FILE, contents.metadata[SLIM_FILE]))
    return analyse(path, "archive", items, fmt=contents.fmt, overhead=contents.overhead, versions=versions,
                   saved=savings(items, slim, exclude), removed=removed)


#: The scripts condapack writes into archives, beside its own directory: no record claims them.
_GENERATED = {path: GENERATED for path in POSIX.generated | WINDOWS.generated}


def _json(path: str, name: str, data: bytes) -> dict[str, object]:
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise ArchiveError(f"{path}: {name} is not JSON ({exc}); the archive is damaged") from None
    if not isinstance(doc, dict):
        raise ArchiveError(f"{path}: {name} is not a JSON object; the archive is damaged")
    return doc


def _owners(metadata: dict[str, bytes]) -> tuple[dict[str, str], dict[str, str]]:
    """Each file's package and each package's version, from the archive's ``conda-meta`` records."""
    owners: dict[str, str] = {}
    versions: dict[str, str] = {}
    for name, data in sorted(metadata.items()):
        if name.count("/") != 1:
            continue
        doc = json.loads(data) if data else {}
        if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
            continue
        versions[doc["name"]] = str(doc.get("version", ""))
        for path in doc.get("files") or []:
            owners.setdefault(str(path), doc["name"])
    return owners, versions
