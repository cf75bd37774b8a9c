"""Read an environment from disk: walk the prefix and classify every file.

What each conda-managed file is (its prefix placeholder and file mode) comes from the
environment's own ``conda-meta`` records, so the package cache is not needed. Files
nobody declared (pip installs, user files, conda's own metadata) are read once to see
whether they hold the prefix.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Iterator, Literal, Optional

import attrs

from . import editable
from ._gc import gc_paused
from .digest import file_digest
from .errors import EnvError
from .installed import windows_home
from .layout import CONDAPACK_DIR, LAYOUT, Layout, is_installers, layout_for
from .records import ManagedPath, PackageRecord, read_records
from .tree import check_is_environment, entries, ignored_top, unreadable
from .unpack.rewrite import is_binary, is_launcher, windows_forms

__all__ = ["File", "FileMode", "Scan", "Entry", "Reading", "read_prefix", "scan_prefix", "scan_reading", "walk_prefix",
           "owners_of", "keep_unmanaged", "check_is_environment", "looks_modified", "without_path_data"]

log = logging.getLogger("condapack")

FileKind = Literal["file", "symlink", "dir"]

#: A :class:`File`'s prefix mode: conda-pack's values. ``"unknown"`` (look at the bytes) is
#: only ever on a caller-built File; packing resolves it to one of the others, or None.
FileMode = Literal["text", "binary", "unknown"]


@attrs.frozen(init=False)
class File:
    """One entry of the environment, as it will be archived.

    The constructor is conda-pack's, ``File(source, target, is_conda=True, file_mode=None,
    prefix_placeholder=None)``; what condapack learns by reading the entry (its kind, mode,
    size, ...) is keyword-only after it. A File a scan read carries ``root``; a File a
    caller built carries none, and is read from ``source`` when packed
    (``condapack.environment.completed``).
    """

    #: Where the bytes are read from; None: ``root/target`` (see :attr:`source`).
    _source: Optional[str]
    target: str
    is_conda: bool
    # How the environment's prefix appears in the file (None: it does not).
    file_mode: Optional[FileMode]
    prefix_placeholder: Optional[str]
    kind: FileKind
    mode: int
    size: int
    mtime_ns: int
    package: Optional[str]
    # Bytes available for a prefix in a binary file: the placeholder's length.
    capacity: int
    link_target: Optional[str]
    #: The directory ``target`` is relative to, when no ``source`` is given. A scan shares
    #: one string for the whole environment: a full path per file would cost about 150
    #: bytes each, 30 MB at 200,000 files.
    root: str

    def __init__(self, source: Optional[str], target: str, is_conda: bool = True,
                 file_mode: Optional[FileMode] = None, prefix_placeholder: Optional[str] = None, *,
                 kind: FileKind = "file", mode: int = 0o644, size: int = 0, mtime_ns: int = 0,
                 package: Optional[str] = None, capacity: int = 0, link_target: Optional[str] = None,
                 root: str = "") -> None:
        self.__attrs_init__(source, target, is_conda, file_mode, prefix_placeholder, kind, mode, size, mtime_ns,
                            package, capacity, link_target, root)

    @property
    def source(self) -> str:
        """The path the file's bytes are read from."""
        return self._source if self._source is not None else f"{self.root}/{self.target}"


@attrs.frozen
class Scan:
    """Everything read from a prefix."""

    prefix: Path
    files: tuple[File, ...]
    packages: tuple[PackageRecord, ...]
    layout: Layout = LAYOUT
    #: The prefix as the environment's files spell it (a Windows path for a Windows env).
    home: str = ""


@attrs.frozen
class Entry:
    kind: FileKind
    mode: int
    size: int
    mtime_ns: int
    link_target: Optional[str]


@attrs.frozen
class Reading:
    """One read of a prefix: its records, what is on disk, and which package owns each path.

    The fingerprint, the make dependencies and the scan for packing all start from it, so
    a build reads each environment once.
    """

    prefix: Path
    packages: tuple[PackageRecord, ...]
    disk: dict[str, Entry]
    owners: dict[str, tuple[PackageRecord, ManagedPath]]

    @property
    def layout(self) -> Layout:
        """The layout (POSIX or Windows) of the platform the packages were built for."""
        return layout_for(p.subdir for p in self.packages)


@gc_paused
def read_prefix(prefix: Path) -> Reading:
    """Read the records of the environment at ``prefix`` and walk it."""
    check_is_environment(prefix)
    packages = read_records(prefix)
    disk = dict(walk_prefix(prefix))
    return Reading(prefix, packages, disk, owners_of(packages, disk))


def scan_prefix(prefix: Path, *, ignore_editable_packages: bool = False,
                ignore_missing_files: bool = False) -> Scan:
    """Read the environment at ``prefix`` into an immutable :class:`Scan`."""
    return scan_reading(read_prefix(prefix), ignore_editable_packages=ignore_editable_packages,
                        ignore_missing_files=ignore_missing_files)


@gc_paused
def scan_reading(reading: Reading, *, ignore_editable_packages: bool = False,
                 ignore_missing_files: bool = False) -> Scan:
    """Classify every file of a :class:`Reading` for packing (after the editable and missing checks)."""
    prefix, packages, disk, owners = reading.prefix, reading.packages, reading.disk, reading.owners
    if not ignore_editable_packages:
        editable.check_no_editable(prefix, packages)
    _check_missing(prefix, owners, disk, ignore_missing_files)
    layout = reading.layout
    place = _Place(prefix, str(prefix), layout, windows_home(prefix, packages) if layout.windows else str(prefix))
    # one label string per package, not one per file (records are keyed by identity:
    # hashing one hashes all its paths)
    labels = {id(record): record.identity.label for record in packages}
    managed = [_managed_file(place, path, owner, disk[path], labels[id(owner[0])])
               for path, owner in owners.items() if path in disk]
    unmanaged = [_unmanaged_file(place, path, entry) for path, entry in disk.items()
                 if path not in owners and keep_unmanaged(path, owners, layout)]
    _warn_modified(place.root, owners, disk)
    _warn_without_path_data(packages)
    files = sorted(managed + unmanaged, key=lambda f: f.target)
    # The per-file package data has been folded into the files; keeping it would hold
    # every path of the environment in memory twice while packing.
    identities = tuple(attrs.evolve(p, paths=()) for p in packages)
    return Scan(prefix=prefix, files=tuple(files), packages=identities, layout=layout, home=place.home)


@attrs.frozen
class _Place:
    """Where the environment lies, its layout, and the prefix its files hold."""

    prefix: Path
    #: ``prefix`` as one string, shared by every :class:`File` read from it.
    root: str
    layout: Layout
    home: str

    @property
    def needles(self) -> tuple[bytes, ...]:
        """Every spelling of the prefix a file may hold."""
        home = self.home.encode("utf-8", "surrogateescape")
        if not self.layout.windows:
            return (home,)
        forms = windows_forms(home)
        return (*forms, *(form[:1].swapcase() + form[1:] for form in forms))


def walk_prefix(prefix: Path) -> Iterator[tuple[str, Entry]]:
    """Every file, symlink and empty directory below ``prefix``, by relative path."""
    stack = [(str(prefix), "")]
    # One int object per distinct mode and mtime: files share them (a package's files keep
    # its build time), and an int object costs 28-36 bytes a file.
    shared: dict[int, int] = {}
    while stack:
        path, rel = stack.pop()
        listed = entries(path)
        if not listed and rel:
            yield rel, Entry("dir", 0o755, 0, 0, None)
        for entry in listed:
            relpath = rel + entry.name
            if not rel and ignored_top(entry.name):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
                link = os.readlink(entry.path) if stat.S_ISLNK(st.st_mode) else None
            except OSError as exc:
                raise unreadable(entry.path, exc) from None
            if stat.S_ISLNK(st.st_mode):
                yield relpath, Entry("symlink", 0o777, 0, shared.setdefault(st.st_mtime_ns, st.st_mtime_ns), link)
            elif stat.S_ISDIR(st.st_mode):
                stack.append((entry.path, relpath + "/"))
            elif stat.S_ISREG(st.st_mode):
                mode, mtime = stat.S_IMODE(st.st_mode), st.st_mtime_ns
                yield relpath, Entry("file", shared.setdefault(mode, mode), st.st_size, shared.setdefault(mtime, mtime),
                                     None)


def owners_of(packages: tuple[PackageRecord, ...],
              disk: dict[str, Entry]) -> dict[str, tuple[PackageRecord, ManagedPath]]:
    """Map each managed path to the one package that owns it.

    When two packages claim a path, the one whose recorded size matches the file on
    disk wins, then the one whose name sorts last, so the choice never depends on the
    order the records are read in.
    """
    claims: dict[str, list[tuple[PackageRecord, ManagedPath]]] = {}
    for record in packages:
        for mp in record.paths:
            claims.setdefault(mp.path, []).append((record, mp))
    owners = {}
    for path, claimants in claims.items():
        if len(claimants) > 1:
            entry = disk.get(path)
            claimants.sort(key=lambda c: (entry is not None and c[1].size == entry.size, c[0].identity.name))
            log.warning("%s is claimed by %s; packing it as part of %s", path,
                        " and ".join(sorted(c[0].identity.label for c in claimants)),
                        claimants[-1][0].identity.label)
        owners[path] = claimants[-1]
    return owners


def _check_missing(prefix: Path, owners: dict[str, tuple[PackageRecord, ManagedPath]],
                   disk: dict[str, Entry], ignore: bool) -> None:
    missing: dict[str, list[str]] = {}
    for path, (record, mp) in owners.items():
        if path not in disk and not path.endswith(".pyc") and mp.path_type != "directory":
            missing.setdefault(record.identity.label, []).append(path)
    if not missing:
        return
    count = sum(len(v) for v in missing.values())
    detail = "; ".join(f"{label}: {', '.join(sorted(paths)[:3])}{' ...' if len(paths) > 3 else ''}"
                       for label, paths in sorted(missing.items()))
    if ignore:
        log.warning("packing without %d missing files managed by conda (%s)", count, detail)
        return
    raise EnvError(
        f"{count} files managed by conda are missing from {prefix} ({detail}); this usually "
        "means pip removed or overwrote them: repair the environment, or pass "
        "--ignore-missing-files to pack it without them"
    )


def without_path_data(packages: tuple[PackageRecord, ...]) -> list[str]:
    """The packages known only by their list of files: neither paths_data nor a package
    cache entry says which of their files hold the prefix (labels, sorted)."""
    return sorted(p.identity.label for p in packages if p.source == "none" and p.paths)


def _warn_without_path_data(packages: tuple[PackageRecord, ...]) -> None:
    """Only records with neither paths_data nor a package cache entry lose anything."""
    blind = without_path_data(packages)
    if blind:
        log.warning("%d packages have no path data in conda-meta and no package cache entry (%s); their "
                    "files were checked for the prefix by content instead", len(blind), ", ".join(blind))


def keep_unmanaged(path: str, owners: dict[str, tuple[PackageRecord, ManagedPath]],
                   layout: Layout = LAYOUT) -> bool:
    """Drop what is stale or regenerated: old conda's scripts, caches of managed code."""
    if path in layout.stale_scripts or path.startswith(CONDAPACK_DIR + "/"):
        return False
    if path.endswith(".pyc") and "__pycache__/" in path:
        return _py_source(path) not in owners
    return True


def _py_source(pyc: str) -> str:
    """``pkg/__pycache__/mod.cpython-311.pyc`` -> ``pkg/mod.py``."""
    head, _, name = pyc.rpartition("__pycache__/")
    return head + name.split(".", 1)[0] + ".py"


def _managed_file(place: _Place, path: str, owner: tuple[PackageRecord, ManagedPath], entry: Entry,
                  label: str) -> File:
    record, mp = owner
    base = _base_file(place.root, path, entry, is_conda=True, package=label)
    if entry.kind != "file" or path.endswith(".pyc"):
        return base
    if mp.file_mode is not None and mp.placeholder is not None:
        room = max(len(mp.placeholder.encode()), len(place.home.encode()))
        return attrs.evolve(base, file_mode=mp.file_mode, prefix_placeholder=mp.placeholder,
                            capacity=room if mp.file_mode == "binary" else 0)
    return _sniffed(place, base) if _needs_sniffing(record, mp, path, entry, place.layout) else base


def _needs_sniffing(record: PackageRecord, mp: ManagedPath, path: str, entry: Entry, layout: Layout) -> bool:
    """Managed files whose prefix use the metadata does not tell: no path data, edited
    since install, or entry points written by the installer (they embed the prefix)."""
    return (record.source == "none" or mp.installed_sha256 is not None or "entry_point" in mp.path_type
            or _size_changed(mp, entry) or (record.noarch_python and path.startswith(layout.bin_dir + "/")))


def _size_changed(mp: ManagedPath, entry: Entry) -> bool:
    return mp.size is not None and mp.size != entry.size and mp.path_type == "hardlink"


def looks_modified(mp: ManagedPath, entry: Entry, source: str) -> bool:
    """Whether the file at ``source`` differs from what the installer left there.

    A file keeps its recorded size unless the installer put the prefix in: conda and mamba
    record the package's size, so for those the installed digest decides (and without one
    the prefix explains the size). Only a file whose size changed is read.
    """
    if not _size_changed(mp, entry):
        return False
    if not mp.prefix_replaced or entry.kind != "file":
        return True
    return mp.installed_sha256 is not None and file_digest(source) != mp.installed_sha256


def _warn_modified(root: str, owners: dict[str, tuple[PackageRecord, ManagedPath]], disk: dict[str, Entry]) -> None:
    """Say once which managed files were changed after install (usually by pip).

    Not ``.pyc`` files: Python rewrites a package's bytecode whose source stamp it finds
    stale (conda runs the environment's python to compile, which rewrites what it imports).
    """
    modified = sorted(p for p, (_, mp) in owners.items()
                      if p in disk and not p.endswith(".pyc") and looks_modified(mp, disk[p], f"{root}/{p}"))
    if modified:
        shown = ", ".join(modified[:5]) + (f" and {len(modified) - 5} more" if len(modified) > 5 else "")
        log.warning("%d files managed by conda were modified after install (%s); packing them "
                    "as they are now", len(modified), shown)


def _unmanaged_file(place: _Place, path: str, entry: Entry) -> File:
    # the installer's records and history are conda's, as conda-pack reads them
    base = _base_file(place.root, path, entry, is_conda=is_installers(path), package=None)
    if entry.kind != "file" or path.endswith(".pyc"):
        return base
    return _sniffed(place, base)


def _base_file(root: str, path: str, entry: Entry, *, is_conda: bool, package: Optional[str]) -> File:
    return File(None, path, kind=entry.kind, mode=entry.mode, size=entry.size, mtime_ns=entry.mtime_ns,
                is_conda=is_conda, package=package, link_target=entry.link_target, root=root)


def _sniff(path: str, needles: tuple[bytes, ...]) -> tuple[bool, bool]:
    """(holds one of ``needles``, has a NUL byte), reading in chunks: files can be huge."""
    found = binary = False
    carry = b""
    keep = max(len(needle) for needle in needles) - 1
    with open(path, "rb", buffering=0) as fh:
        while True:
            chunk = fh.read(1 << 20)
            if not chunk:
                return found, binary
            binary = binary or is_binary(chunk)
            found = found or any(needle in carry + chunk for needle in needles)
            if found and binary:
                return found, binary
            carry = chunk[-keep:] if keep else b""


def _sniffed(place: _Place, file: File) -> File:
    """Read the file to learn whether (and how) it holds the prefix."""
    try:
        found, binary = _sniff(file.source, place.needles)
        if found and binary and place.layout.windows:
            binary = not _is_launcher(file.source)
    except OSError as exc:
        raise EnvError(f"cannot read {file.source}: {exc.strerror}; check its permissions") from None
    if not found:
        return file
    if binary:
        return attrs.evolve(file, file_mode="binary", prefix_placeholder=place.home,
                            capacity=len(place.home.encode()))
    return attrs.evolve(file, file_mode="text", prefix_placeholder=place.home)


def _is_launcher(path: str) -> bool:
    with open(path, "rb") as fh:
        return is_launcher(fh.read())
