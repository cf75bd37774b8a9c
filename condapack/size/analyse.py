"""Turn the files of an environment (or the members of an archive) into a size report.

Pure: the items come from :func:`condapack.prefix.read_prefix` or from an archive's
member list; nothing here reads the disk except the ELF headers the slimming guard
rails need.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Literal, Mapping, Optional, Sequence

from ..layout import CONDAPACK_DIR
from ..prefix import File, Reading
from ..slim import PRESETS, compile_patterns, preset_of, slim_files
from .model import CONDA_META, GENERATED, OTHER, UNMANAGED, Item, Saving, Share, SizeReport

__all__ = ["items_of_reading", "kind_of", "package_of", "analyse", "savings", "env_savings", "TOP"]

#: How many of the largest files and directories a report lists.
TOP = 20


def package_of(path: str, owner: Optional[str]) -> str:
    """The package a path belongs to, or the pseudo-package of a file no record claims."""
    if owner is not None:
        return owner
    if path.startswith(CONDAPACK_DIR + "/"):
        return GENERATED
    return CONDA_META if path.startswith("conda-meta/") else UNMANAGED


def kind_of(path: str, package: str) -> str:
    """The kind of a file: the first preset describing it, else unmanaged or other."""
    preset = preset_of(path)
    if preset is not None:
        return preset
    return "unmanaged" if package == UNMANAGED else OTHER


def items_of_reading(reading: Reading) -> list[Item]:
    """Every entry of an environment as it lies on disk, with its package and kind."""
    out = []
    for path, entry in sorted(reading.disk.items()):
        owner = reading.owners.get(path)
        package = package_of(path, owner[0].identity.name if owner else None)
        out.append(Item(path, entry.size, entry.size, package, kind_of(path, package)))
    return out


def _shares(groups: Mapping[str, list[Item]], versions: Mapping[str, str] = {}) -> tuple[Share, ...]:
    shares = [Share(name, len(items), sum(i.size for i in items), sum(i.stored for i in items),
                    versions.get(name, "")) for name, items in groups.items()]
    return tuple(sorted(shares, key=lambda s: (-s.stored, -s.size, s.name)))


def _grouped(items: Iterable[Item], key: str) -> dict[str, list[Item]]:
    groups: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        groups[getattr(item, key)].append(item)
    return groups


def _parent(path: str) -> str:
    """``posixpath.dirname`` of a normalized relative path, at a fraction of its cost."""
    return path.rpartition("/")[0]


def _largest_dirs(items: Sequence[Item]) -> tuple[Share, ...]:
    """Every directory's total (its whole subtree), the largest first."""
    own: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # a directory's own files, bytes, stored
    for item in items:
        counts = own[_parent(item.path)]
        counts[0] += 1
        counts[1] += item.size
        counts[2] += item.stored
    files: dict[str, int] = defaultdict(int)
    size: dict[str, int] = defaultdict(int)
    stored: dict[str, int] = defaultdict(int)
    for directory, (n, on_disk, in_archive) in own.items():  # each directory adds to its ancestors
        while directory:
            files[directory] += n
            size[directory] += on_disk
            stored[directory] += in_archive
            directory = _parent(directory)
    ranked = sorted(files, key=lambda d: (-stored[d], -size[d], d))[:TOP]
    return tuple(Share(d + "/", files[d], size[d], stored[d]) for d in ranked)


def analyse(source: str, what: Literal["environment", "archive"], items: Sequence[Item], *,
            fmt: Optional[str] = None, overhead: int = 0, versions: Mapping[str, str] = {},
            saved: Sequence[Saving] = (), removed: Optional[Saving] = None) -> SizeReport:
    """The report: totals, per package, per kind, the largest files and directories."""
    largest = tuple(sorted(items, key=lambda i: (-i.stored, -i.size, i.path))[:TOP])
    return SizeReport(source=source, what=what, format=fmt, files=len(items), size=sum(i.size for i in items),
                      stored=sum(i.stored for i in items), overhead=overhead,
                      packages=_shares(_grouped(items, "package"), versions), kinds=_shares(_grouped(items, "kind")),
                      largest_files=largest, largest_dirs=_largest_dirs(items), savings=tuple(saved),
                      removed=removed, items=tuple(items))


def _saving(rule: str, matched: Sequence[Item], kept: Sequence[tuple[str, str]] = ()) -> Saving:
    return Saving(rule, len(matched), sum(i.size for i in matched), sum(i.stored for i in matched),
                  _shares(_grouped(matched, "package")), tuple(kept))


def savings(items: Sequence[Item], slim: Sequence[str], exclude: Sequence[str]) -> list[Saving]:
    """What each preset and pattern would remove, by its patterns alone (an archive's members)."""
    out = []
    for name in slim:
        out.append(_saving(name, [i for i in items if preset_of(i.path, (name,)) is not None]))
    for pattern in exclude:
        regex = compile_patterns([pattern])
        out.append(_saving(pattern, [i for i in items if regex.match(i.path)]))
    return out


def env_savings(reading: Reading, items: Sequence[Item], slim: Sequence[str],
                exclude: Sequence[str]) -> list[Saving]:
    """What each preset would remove from an environment after its guard rails, and each pattern."""
    by_path = {i.path: i for i in items}
    files = [File(None, i.path, kind=reading.disk[i.path].kind, mode=reading.disk[i.path].mode, size=i.size,
                  package=i.package, link_target=reading.disk[i.path].link_target, root=str(reading.prefix))
             for i in items]
    entry_points = frozenset(p for p, (_, mp) in reading.owners.items() if "entry_point" in mp.path_type)
    out = []
    for name in slim:
        done = slim_files(files, (name,), entry_points)
        out.append(_saving(name, [by_path[r.path] for r in done.removed], [(r.path, r.kept) for r in done.guarded]))
    return out + savings(items, (), exclude)


def removed_saving(doc: Mapping[str, object]) -> Saving:
    """What the archive's slimming metadata says was removed, as one saving per the presets."""
    rows = doc.get("removed", [])
    assert isinstance(rows, list)
    items = [Item(str(path), int(size), 0, str(package or UNMANAGED), str(preset))
             for path, preset, size, package in rows]
    presets = doc.get("presets", {})
    names = ",".join(f"{n} v{v['version']}" for n, v in sorted(dict(presets).items()) if n in PRESETS) \
        if isinstance(presets, dict) else ""
    return _saving(names or "slim", items)
