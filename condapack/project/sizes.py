"""``condapack size TARGET`` and ``condapack build --report``: the size report of a project target.

A target's report covers the files its archive takes from the environment (the target's
``exclude`` applied). Its items (path, bytes, package, kind) are kept beside the
memo as ``KEY.size.json`` with the tree signature they were read under: while the
signature is the same (one ``lstat`` per entry, as a no-op build), the report is made
from them without reading a record or walking the environment. Slimming presets need
the environment itself (their guard rails read ELF headers and imports), so a report
that shows one reads it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

from .._version import __version__
from ..bounded import NotAFile, read_bounded
from ..tree import check_is_environment
from . import memo
from .config import Project, TargetSpec
from .memo import MEMO_LIMIT, Memo, memo_dir, write_memo
from .plan import env_prefix
from .signature import tree_signature

if TYPE_CHECKING:
    from ..size import Item, SizeReport

__all__ = ["size_target", "report_path", "write_report"]

log = logging.getLogger("condapack")

_VERSION = 1
#: What ``condapack build --report`` writes beside an archive: ``ARCHIVE`` + this.
REPORT_SUFFIX = ".size.html"


def report_path(output: Path) -> Path:
    """Where ``build --report`` writes the report of the archive at ``output``."""
    return output.with_name(output.name + REPORT_SUFFIX)


def write_report(output: Path) -> Path:
    """Write the HTML report of the archive at ``output`` beside it; the page names the archive
    by its file name only, so a rebuild anywhere writes the same bytes."""
    import attrs

    from ..size import size_archive, write_html

    report = attrs.evolve(size_archive(str(output)), source=output.name)
    path = report_path(output)
    write_html(report, path)
    return path


def size_target(project: Project, target: TargetSpec, *, slim: Sequence[str] = (),
                exclude: Sequence[str] = ()) -> SizeReport:
    """The report of the files ``target`` packs, with what ``slim`` and ``exclude`` would remove."""
    from ..size.analyse import analyse, savings
    from ..slim import compile_patterns, parse_slim

    compile_patterns(exclude)
    prefix = env_prefix(project, target.env)
    presets = tuple(dict.fromkeys((*parse_slim(target.options.slim), *slim)))
    if presets:
        return _read_target(prefix, target, presets, exclude)
    items, versions = _remembered_items(project, target.env, prefix)
    items = _kept(items, target.exclude)
    return analyse(target.name, "environment", items, versions=versions, saved=savings(items, (), exclude))


def _read_target(prefix: Path, target: TargetSpec, slim: Sequence[str], exclude: Sequence[str]) -> SizeReport:
    """The report from a full read of the environment (slimming's guard rails need it)."""
    import attrs

    from ..prefix import read_prefix
    from ..size.analyse import analyse, env_savings, items_of_reading

    reading = read_prefix(prefix)
    items = _kept(items_of_reading(reading), target.exclude)
    if target.exclude:
        kept = {i.path for i in items}
        reading = attrs.evolve(reading, disk={p: e for p, e in reading.disk.items() if p in kept})
    versions = {p.identity.name: p.identity.version for p in reading.packages}
    return analyse(target.name, "environment", items, versions=versions,
                   saved=env_savings(reading, items, slim, exclude))


def _kept(items: Sequence[Item], patterns: Sequence[str]) -> list[Item]:
    if not patterns:
        return list(items)
    from ..filters import gitignore_filter

    return list(gitignore_filter(items, patterns, key=lambda i: i.path))


def _remembered_items(project: Project, key: str, prefix: Path) -> tuple[list[Item], dict[str, str]]:
    """The environment's items: from ``KEY.size.json`` when its signature holds, else read (and stored)."""
    check_is_environment(prefix)
    where = memo_dir(project.state_dir)
    env_memo = Memo(where / f"{key}.json" if where else None)
    signature = tree_signature(prefix, env_memo.listings())
    # as for the fingerprint: a tree changed close to this run's start is not trusted
    trusted = signature.newest_ctime_ns < env_memo.started_ns - memo.RACY_NS
    if trusted and signature.listed and env_memo.listings_path is not None:  # the next signature lists less
        write_memo(env_memo.listings_path, signature.listings.to_bytes())
    path = where / f"{key}.size.json" if where else None
    found = _load(path, signature.digest)
    if found is not None:
        return found
    from ..prefix import read_prefix
    from ..size.analyse import items_of_reading

    reading = read_prefix(prefix)
    items, versions = items_of_reading(reading), {p.identity.name: p.identity.version for p in reading.packages}
    # records read from a package cache can change without the prefix changing
    if path is not None and trusted and all(p.source == "env" for p in reading.packages):
        _store(path, signature.digest, items, versions)
    return items, versions


def _load(path: Optional[Path], signature: str) -> Optional[tuple[list[Item], dict[str, str]]]:
    """The items stored for ``signature``; None when missing, for another tree, or damaged."""
    from ..size import Item

    if path is None:
        return None
    try:
        doc: Any = json.loads(read_bounded(path, MEMO_LIMIT, own=True))
        if doc.get("signature") != signature or doc.get("condapack") != __version__ or doc["version"] != _VERSION:
            return None
        items = [Item(str(p), int(s), int(s), str(pkg), str(kind)) for p, s, pkg, kind in doc["items"]]
        return items, {str(k): str(v) for k, v in dict(doc["versions"]).items()}
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError, NotAFile) as exc:
        log.warning("%s: damaged size memo (%s); reading the environment (it is rewritten)", path,
                    type(exc).__name__)
        return None


def _store(path: Path, signature: str, items: Sequence[Item], versions: dict[str, str]) -> None:
    doc = {"version": _VERSION, "condapack": __version__, "signature": signature, "versions": versions,
           "items": [[i.path, i.size, i.package, i.kind] for i in items]}
    write_memo(path, json.dumps(doc, separators=(",", ":")).encode())


def find_target(name: str, config: Optional[str]) -> Optional[tuple[Project, TargetSpec]]:
    """The project target ``name`` selects (as ``build`` names targets), or None for an environment.

    A path that exists is an environment or an archive. Else, with ``-c/--config`` or a
    ``condapack.toml`` found upwards, a name the project knows is a target; ``ENV:FORMAT``
    must be one. Any other name is a conda environment's.
    """
    from ..errors import ConfigError
    from .config import PROJECT_FILE, find_project, load_project
    from .plan import select_targets

    if os.path.exists(name):
        return None
    try:
        found = Path(config) if config else find_project(Path.cwd())
    except ConfigError:
        if ":" in name:
            raise ConfigError(f"{name!r} names a target (ENV:FORMAT) and there is no {PROJECT_FILE} here or "
                              "upwards; pass -c/--config PATH") from None
        return None
    project = load_project(found)
    if ":" not in name and name not in {t.name for t in project.targets} | {e.key for e in project.envs}:
        return None
    targets = select_targets(project, [name])
    if len(targets) != 1:
        raise ConfigError(f"size takes one target, and {name!r} names {len(targets)} "
                          f"({', '.join(t.name for t in targets)}); name one as ENV:FORMAT")
    return project, targets[0]
