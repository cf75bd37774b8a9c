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
from .safepath import UnsafePath, relative_path

__all__ = ["PackageRecord", "ManagedPath", "read_records", "channel_name"]

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


@attrs.frozen
class PackageRecord:
    """One installed package: its identity and its files."""

    name: str
    version: str
    build: str
    channel: str
    sha256: str
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

    @property
    def label(self) -> str:
        """``name version`` for messages."""
        return f"{self.name} {self.version}"


def read_records(prefix: Path) -> tuple[PackageRecord, ...]:
    """Read every package record of the environment, sorted by name."""
    meta = prefix / "conda-meta"
    records = [_read_record(p) for p in sorted(meta.glob("*.json"))]
    return tuple(sorted(records, key=lambda r: (r.name, r.version, r.build)))


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


def _read_record(path: Path) -> PackageRecord:
    data = _load_json(path)
    _checked_paths(path, data)
    noarch = data.get("noarch")
    noarch_python = noarch == "python" or (isinstance(noarch, dict) and noarch.get("type") == "python")
    source, paths = _record_paths(data)
    return PackageRecord(
        name=str(data["name"]),
        version=str(data.get("version", "")),
        build=str(data.get("build", "")),
        channel=str(data.get("channel") or data.get("schannel") or ""),
        sha256=str(data.get("sha256") or data.get("md5") or ""),
        noarch_python=noarch_python,
        source=source,
        paths=paths,
        md5=str(data.get("md5") or ""),
        license=str(data.get("license") or ""),
        subdir=str(data.get("subdir") or ""),
    )


def _record_paths(data: dict[str, Any]) -> tuple[Literal["env", "cache", "none"], tuple[ManagedPath, ...]]:
    """Prefer the environment's own ``paths_data``; fall back to the package cache."""
    files = [str(f) for f in data.get("files") or []]
    paths_data = (data.get("paths_data") or {}).get("paths")
    if paths_data:
        known = [_managed(entry) for entry in paths_data]
        return "env", _with_unlisted(known, files)
    cached = _cache_paths(data)
    if cached is not None:
        return "cache", _with_unlisted(cached, files)
    return "none", tuple(ManagedPath(f, "hardlink", None, None, None) for f in files)


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
    return ManagedPath(
        path=str(entry["_path"]),
        path_type=_SHARED.get(path_type, path_type),
        file_mode=file_mode,
        placeholder=str(placeholder) if placeholder else None,
        size=entry.get("size_in_bytes"),
        # kept only where it is read (finding a Windows env's install path from its text
        # files): 113 bytes a file otherwise
        sha256=entry.get("sha256") if file_mode == "text" else None,
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
    noarch_python = data.get("noarch") == "python" or _cache_noarch(pkg) == "python"
    site = _site_packages_of(data) if noarch_python else None
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
    if site is not None:
        entries = [attrs.evolve(e, path=_noarch_target(e.path, site)) for e in entries]
    return entries


def _site_packages_of(data: dict[str, Any]) -> str:
    for f in map(str, data.get("files") or []):
        if "/site-packages/" in f:
            return f.split("/site-packages/")[0] + "/site-packages"
    return "site-packages"


def _noarch_target(path: str, site_packages: str) -> str:
    if path.startswith("site-packages/"):
        return site_packages + path[len("site-packages"):]
    if path.startswith("python-scripts/"):
        return "bin" + path[len("python-scripts"):]
    return path


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
