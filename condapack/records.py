"""Read ``conda-meta/*.json`` into what each package says about its files."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any, Literal, Optional
from urllib.parse import urlparse

import attrs

from .errors import EnvError
from .unpack.safepath import UnsafePath, relative_path

__all__ = ["PackageId", "PackageRecord", "ManagedPath", "read_records", "channel_name"]

PrefixMode = Literal["text", "binary"]


@attrs.frozen
class ManagedPath:
    """One file of a package as the package metadata describes it."""

    path: str
    path_type: str
    file_mode: Optional[PrefixMode]
    placeholder: Optional[str]
    size: Optional[int]
    # sha256 of the file as the package ships it (before the prefix was put in).
    sha256: Optional[str] = None
    #: sha256 of the file as installed, kept only where the installer changed the bytes (it
    #: put the prefix in): conda and mamba record ``size`` before that change, rattler after.
    installed_sha256: Optional[str] = None

    @property
    def prefix_replaced(self) -> bool:
        """The installer wrote the prefix into this file (the record may not say how)."""
        return self.placeholder is not None or self.installed_sha256 is not None


@attrs.frozen
class PackageId:
    """What identifies a conda package, in its record, the fingerprint, the lock and the SBOM."""

    name: str
    version: str
    build: str
    #: The channel's name without host-specific parts (:func:`channel_name`).
    channel: str
    #: The package file's sha256, or its md5 where the record has no sha256.
    sha256: str

    @property
    def label(self) -> str:
        """``name version`` for messages."""
        return f"{self.name} {self.version}"

    def to_doc(self) -> dict[str, str]:
        """As JSON: one string per field (the lock's and the memo's package entries)."""
        return attrs.asdict(self)

    @classmethod
    def from_doc(cls, doc: object) -> Optional[PackageId]:
        """The identity :meth:`to_doc` wrote, or None when ``doc`` is not one."""
        if not (isinstance(doc, dict) and doc.keys() == _ID_KEYS and all(isinstance(v, str) for v in doc.values())):
            return None
        return cls(**doc)


_ID_KEYS = frozenset(field.name for field in attrs.fields(PackageId))


@attrs.frozen
class PackageRecord:
    """One installed package: its identity and its files."""

    identity: PackageId
    noarch_python: bool
    # Where the path data came from: "env" (conda-meta), "cache" (the package cache)
    # or "none" (only a list of files is known; prefixes must be sniffed).
    source: Literal["env", "cache", "none"]
    paths: tuple[ManagedPath, ...]
    # What an SBOM reports besides the identity (empty when the record does not say).
    md5: str = ""
    license: str = ""
    #: The conda subdir the package was built for (``linux-64``, ``win-64``, ``noarch``).
    subdir: str = ""


@attrs.frozen
class NoarchDirs:
    """Where a ``noarch: python`` package's ``site-packages/`` and ``python-scripts/`` go."""

    site_packages: str
    scripts: str

    def target(self, path: str) -> str:
        """The installed path of a package-relative path (others are already installed paths)."""
        if path.startswith("site-packages/"):
            return self.site_packages + path[len("site-packages"):]
        if path.startswith("python-scripts/"):
            return self.scripts + path[len("python-scripts"):]
        return path


def read_records(prefix: Path) -> tuple[PackageRecord, ...]:
    """Read every package record of the environment, sorted by name."""
    meta = prefix / "conda-meta"
    noarch = noarch_dirs(meta)
    records = [_read_record(p, noarch) for p in sorted(meta.glob("*.json"))]
    return tuple(sorted(records, key=lambda r: (r.identity.name, r.identity.version, r.identity.build)))


def noarch_dirs(meta: Path) -> Optional[NoarchDirs]:
    """Where the environment's python puts ``noarch: python`` files (None: no python record).

    The python record's ``python_site_packages_path`` where it has one (a free-threaded
    build's ``lib/python3.13t/site-packages``), else the version's usual directory.
    """
    for path in sorted(meta.glob("python-[0-9]*.json")):
        data = _load_json(path)
        if data["name"] != "python":
            continue
        windows = str(data.get("subdir") or "").startswith("win-")
        site = data.get("python_site_packages_path")
        if not isinstance(site, str) or relative_path(site) != site:
            short = ".".join(str(data.get("version", "")).split(".")[:2])
            site = "Lib/site-packages" if windows else f"lib/python{short}/site-packages"
        return NoarchDirs(site, "Scripts" if windows else "bin")
    return None


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        detail = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise EnvError(f"{path}: cannot read package record ({detail}); repair or remove it") from None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise EnvError(f"{path}: not a conda package record (no 'name'); remove it from conda-meta")
    return data


def _bad(path: Path, key: str, what: str) -> EnvError:
    return EnvError(f"{path}: {key} {what}; repair the record (reinstall the package) or remove it from conda-meta")


def _checked_paths(path: Path, data: dict[str, Any]) -> None:
    """Types and names of the file lists: every path relative, inside the prefix."""
    files = data.get("files") or []
    if not isinstance(files, list):
        raise _bad(path, "files", "is not a list")
    for i, name in enumerate(files):
        _checked_name(path, f"files[{i}]", name)
    paths_data = data.get("paths_data") or {}
    entries = paths_data.get("paths") if isinstance(paths_data, dict) else None
    if not isinstance(paths_data, dict) or not isinstance(entries or [], list):
        raise _bad(path, "paths_data", "is not an object with a list of paths")
    for i, entry in enumerate(entries or []):
        where = f"paths_data.paths[{i}]"
        if not isinstance(entry, dict):
            raise _bad(path, where, "is not an object")
        _checked_name(path, f"{where}._path", entry.get("_path"))
        size = entry.get("size_in_bytes")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool)):
            raise _bad(path, f"{where}.size_in_bytes", "is not a number")
        for key in ("path_type", "file_mode", "prefix_placeholder"):
            if entry.get(key) is not None and not isinstance(entry[key], str):
                raise _bad(path, f"{where}.{key}", "is not a string")


def _checked_name(path: Path, where: str, name: object) -> None:
    try:
        if relative_path(name) != name:
            raise UnsafePath(f"is not normalised, got {name!r}")
    except UnsafePath as exc:
        raise _bad(path, where, str(exc)) from None


def _read_record(path: Path, noarch: Optional[NoarchDirs]) -> PackageRecord:
    data = _load_json(path)
    _checked_paths(path, data)
    noarch_python = _is_noarch_python(data)
    source, paths = _record_paths(data, _noarch_of(data, noarch) if noarch_python else None)
    return PackageRecord(
        identity=PackageId(
            name=str(data["name"]),
            version=str(data.get("version", "")),
            build=str(data.get("build", "")),
            channel=channel_name(str(data.get("channel") or data.get("schannel") or "")),
            sha256=str(data.get("sha256") or data.get("md5") or ""),
        ),
        noarch_python=noarch_python,
        source=source,
        paths=paths,
        md5=str(data.get("md5") or ""),
        license=str(data.get("license") or ""),
        subdir=str(data.get("subdir") or ""),
    )


def _is_noarch_python(data: dict[str, Any]) -> bool:
    """The record says so, or (old records without path data) the package in the cache does."""
    kind = data.get("noarch")
    if kind == "python" or (isinstance(kind, dict) and kind.get("type") == "python"):
        return True
    if kind is not None or (data.get("paths_data") or {}).get("paths"):
        return False
    pkg = _cache_dir(data)
    return pkg is not None and _cache_noarch(pkg) == "python"


def _noarch_of(data: dict[str, Any], noarch: Optional[NoarchDirs]) -> NoarchDirs:
    """The environment's noarch directories, else what the record's own ``files`` show."""
    if noarch is not None:
        return noarch
    for f in map(str, data.get("files") or []):
        if "/site-packages/" in f:
            return NoarchDirs(f.split("/site-packages/")[0] + "/site-packages", "bin")
    return NoarchDirs("site-packages", "bin")


def _record_paths(data: dict[str, Any], noarch: Optional[NoarchDirs]
                  ) -> tuple[Literal["env", "cache", "none"], tuple[ManagedPath, ...]]:
    """Prefer the environment's own ``paths_data``; fall back to the package cache.

    For a ``noarch: python`` package conda keeps the package-relative form
    (``site-packages/...``, ``python-scripts/...``) in ``paths_data`` and the installed one
    in ``files``; mamba and rattler write the installed form in both. Either way the
    installed path is what is read.
    """
    files = [str(f) for f in data.get("files") or []]
    paths_data = (data.get("paths_data") or {}).get("paths")
    if paths_data:
        known = [_managed(entry) for entry in paths_data]
    else:
        cached = _cache_paths(data)
        if cached is None:
            return "none", tuple(ManagedPath(f, "hardlink", None, None, None) for f in files)
        known = cached
    if noarch is not None:
        known = _installed_paths(known, noarch, files)
    return ("env" if paths_data else "cache"), _with_unlisted(known, files)


def _installed_paths(known: list[ManagedPath], noarch: NoarchDirs, files: list[str]) -> list[ManagedPath]:
    """Package-relative noarch paths as installed; ``files`` decides where they disagree
    (a record from a python whose site-packages the version does not tell)."""
    listed = set(files)
    below_site = {f.split("/site-packages/", 1)[1]: f for f in files if "/site-packages/" in f}
    out = []
    for mp in known:
        target = noarch.target(mp.path)
        if files and target not in listed and mp.path.startswith("site-packages/"):
            target = below_site.get(mp.path[len("site-packages/"):], target)
        out.append(mp if target == mp.path else attrs.evolve(mp, path=target))
    return out


def _with_unlisted(known: list[ManagedPath], files: list[str]) -> tuple[ManagedPath, ...]:
    """Add files the installer created beyond the package's own list (noarch .pyc)."""
    seen = {p.path for p in known}
    extra = [ManagedPath(f, "hardlink", None, None, None) for f in files if f not in seen]
    return tuple(known + extra)


#: One string object per path type and prefix mode, not one per file as JSON decodes them.
_SHARED = {name: name for name in ("hardlink", "softlink", "directory", "text", "binary")}


def _managed(entry: dict[str, Any]) -> ManagedPath:
    mode = entry.get("file_mode")
    placeholder = entry.get("prefix_placeholder")
    file_mode: Optional[PrefixMode] = _SHARED[mode] if mode in ("text", "binary") and placeholder else None  # type: ignore[assignment]
    path_type = str(entry.get("path_type", "hardlink"))
    sha256, installed = entry.get("sha256"), entry.get("sha256_in_prefix")
    return ManagedPath(
        path=str(entry["_path"]),
        path_type=_SHARED.get(path_type, path_type),
        file_mode=file_mode,
        placeholder=str(placeholder) if placeholder else None,
        size=entry.get("size_in_bytes"),
        # kept only where it is read (finding a Windows env's install path from its text
        # files): 113 bytes a file otherwise
        sha256=sha256 if file_mode == "text" else None,
        installed_sha256=str(installed) if installed and path_type == "hardlink" and (
            placeholder or installed != sha256) else None,
    )


def _cache_dir(data: dict[str, Any]) -> Optional[Path]:
    link = data.get("link")
    source = link.get("source") if isinstance(link, dict) else None
    for candidate in (source, data.get("extracted_package_dir")):
        if isinstance(candidate, str) and candidate and "\0" not in candidate and os.path.isdir(candidate):
            return Path(candidate)
    return None


def _cache_paths(data: dict[str, Any]) -> Optional[list[ManagedPath]]:
    """Path data from the extracted package in the package cache, if it is still there."""
    pkg = _cache_dir(data)
    if pkg is None:
        return None
    paths_json = pkg / "info" / "paths.json"
    if paths_json.is_file():
        try:
            doc = json.loads(paths_json.read_bytes())
            _checked_paths(paths_json, {"paths_data": doc})
        except (OSError, ValueError, RecursionError, EnvError):
            return None  # a damaged cache entry is no worse than none: sniff the files instead
        entries = [_managed(e) for e in doc.get("paths", [])]
    else:
        entries = _has_prefix_paths(pkg)
    return entries


def _cache_noarch(pkg: Path) -> Optional[str]:
    for name in ("link.json", "package_metadata.json"):
        path = pkg / "info" / name
        if path.is_file():
            try:
                doc = json.loads(path.read_bytes())
            except (OSError, ValueError, RecursionError):
                return None
            noarch = doc.get("noarch") if isinstance(doc, dict) else None
            return noarch.get("type") if isinstance(noarch, dict) else None
    return None


def _has_prefix_paths(pkg: Path) -> list[ManagedPath]:
    """Old packages: ``info/files`` plus ``info/has_prefix`` lines."""
    files_txt = pkg / "info" / "files"
    files = files_txt.read_text().split("\n") if files_txt.is_file() else []
    prefixes: dict[str, tuple[str, str]] = {}
    has_prefix = pkg / "info" / "has_prefix"
    if has_prefix.is_file():
        for line in has_prefix.read_text().splitlines():
            fields = [f.strip("\"'") for f in shlex.split(line, posix=False)]
            if len(fields) == 3:
                prefixes[fields[2]] = (fields[0], fields[1])
            elif len(fields) == 1:
                prefixes[fields[0]] = ("/opt/anaconda1anaconda2anaconda3", "text")
    out = []
    for f in (f.strip() for f in files):
        if f:
            placeholder, mode = prefixes.get(f, (None, None))
            file_mode: Optional[PrefixMode] = mode if mode in ("text", "binary") else None  # type: ignore[assignment]
            out.append(ManagedPath(f, "hardlink", file_mode, placeholder, None))
    return out


def channel_name(value: str) -> str:
    """A channel name without host-specific parts (local file channels by basename)."""
    parsed = urlparse(value)
    if parsed.scheme == "file" or value.startswith("/"):
        parts = [p for p in (parsed.path or value).rstrip("/").split("/") if p]
        if parts and parts[-1] in ("noarch", "linux-64", "linux-aarch64", "osx-64", "osx-arm64", "win-64"):
            parts = parts[:-1]
        return parts[-1] if parts else value
    return value.rstrip("/")
