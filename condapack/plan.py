"""Decide which targets are out of date, and why, without changing anything.

Staleness is decided the way Cargo does it: the lock is re-planned in memory from the
project file and the environments' fingerprints and compared with the one on disk. A
target is up to date when its input digest matches the lock, the lock records its
output's sha256, the output exists with that digest, and it was built by this version
of condapack.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import attrs

from ._version import __version__
from .archive.formats import ALIASES
from .config import Project, TargetSpec
from .errors import CondaPackError, ConfigError
from .fingerprint import EnvFingerprint, fingerprint_env
from .locate import find_prefix
from .lock import describe_env_change, read_lock, render_lock, write_if_changed
from .statcache import StatCache, file_digest

__all__ = ["TargetStatus", "Plan", "BuildState", "make_plan", "select_targets", "env_prefix", "output_digest",
           "content_digest", "content_size"]

Doc = dict[str, Any]


@attrs.frozen
class TargetStatus:
    """One selected target: whether it must be built, and why."""

    target: TargetSpec
    build: bool
    reasons: tuple[str, ...]


@attrs.frozen
class Plan:
    """The planned lock and the status of each selected target."""

    project: Project
    envs: Mapping[str, EnvFingerprint]
    previous: Optional[Doc]
    lock: Doc
    targets: tuple[TargetStatus, ...]
    caches: Mapping[str, StatCache]

    @property
    def to_build(self) -> list[TargetStatus]:
        """Targets that are out of date."""
        return [t for t in self.targets if t.build]


class BuildState:
    """Local record of built outputs (stat + digest), kept under ``.condapack/``."""

    def __init__(self, project: Project) -> None:
        self.path = project.state_dir / "state.json"
        self.outputs: dict[str, Doc] = self._load()
        self._recorded: set[str] = set()

    def _load(self) -> dict[str, Doc]:
        """The entries on disk; anything damaged is dropped (it only costs a re-hash)."""
        try:
            data = json.loads(self.path.read_bytes())
        except (OSError, ValueError, RecursionError):
            return {}
        outputs = data.get("outputs") if isinstance(data, dict) else None
        if not isinstance(outputs, dict):
            return {}
        return {name: entry for name, entry in outputs.items() if _valid_state(entry)}

    def record(self, name: str, output: Path, sha256: str) -> None:
        """Remember what was built for ``name`` by this condapack."""
        self.outputs[name] = {"stat": _stat_key(output), "sha256": sha256, "condapack": __version__}
        self._recorded.add(name)

    def built_by(self, name: str) -> Optional[str]:
        """The condapack version that built ``name`` here, if known."""
        entry = self.outputs.get(name)
        return str(entry.get("condapack")) if entry else None

    def save(self) -> None:
        """Write the state atomically, merged with what other builds recorded meanwhile."""
        outputs = {**self._load(), **{name: self.outputs[name] for name in self._recorded}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_if_changed(self.path, json.dumps({"version": 1, "outputs": outputs}, indent=1,
                                               sort_keys=True).encode())


def _valid_state(entry: object) -> bool:
    return (isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
            and isinstance(entry.get("stat"), list) and isinstance(entry.get("condapack", ""), str))


def _stat_key(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def tree_digest(root: Path) -> str:
    """A digest of a directory output: every path, kind, mode bit and content."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            digest.update(f"L {rel} {os.readlink(path)}\n".encode())
        elif path.is_file():
            mode = "x" if os.access(path, os.X_OK) else "-"
            digest.update(f"F {rel} {mode} {file_digest(str(path))}\n".encode())
        else:
            digest.update(f"D {rel}\n".encode())
    return digest.hexdigest()


def output_digest(path: Path, state: BuildState, name: str) -> Optional[str]:
    """The sha256 of an output (trusting the recorded one while its stat is unchanged)."""
    if not path.exists():
        return None
    entry = state.outputs.get(name)
    if entry and entry.get("stat") == _stat_key(path):
        return str(entry["sha256"])
    return content_digest(path)


def content_digest(path: Path) -> str:
    """The sha256 of an output file, or :func:`tree_digest` of an output directory."""
    return tree_digest(path) if path.is_dir() else file_digest(str(path))


def content_size(path: Path) -> Optional[int]:
    """Bytes of an output file, or of the regular files in an output directory; None if missing."""
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return None


def env_prefix(project: Project, key: str) -> Path:
    """Where an environment of the project is."""
    spec = project.env(key)
    if spec.prefix is not None:
        return spec.prefix
    assert spec.conda_name is not None
    return find_prefix(name=spec.conda_name)


def select_targets(project: Project, names: Sequence[str]) -> list[TargetSpec]:
    """Targets named ``ENV:FORMAT``, ``ENV`` or by output path; all when none are named."""
    if not names:
        return list(project.targets)
    chosen: dict[str, TargetSpec] = {}
    for name in names:
        env, sep, fmt = name.partition(":")
        name = f"{env}:{ALIASES.get(fmt, fmt)}" if sep else name
        matches = [t for t in project.targets
                   if name in (t.name, t.env) or os.path.abspath(name) == str(t.output)]
        if not matches:
            known = [t.name for t in project.targets] + [e.key for e in project.envs]
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; targets are {', '.join(known[:8])}"
            raise ConfigError(f"{project.path.name}: no target {name!r}{hint}")
        chosen.update((t.name, t) for t in matches)
    return [t for t in project.targets if t.name in chosen]


def _status(plan_lock: Doc, previous: Optional[Doc], target: TargetSpec, state: BuildState,
            force: bool) -> TargetStatus:
    entry = plan_lock["targets"][target.name]
    old = (previous or {}).get("targets", {}).get(target.name)
    reasons: list[str] = ["forced"] if force else []
    if old is None:
        reasons.append("new target")
    else:
        if old.get("options") != entry["options"]:
            changed = sorted(k for k in entry["options"] if old["options"].get(k) != entry["options"][k])
            reasons.append(f"options changed ({', '.join(changed)})")
        if old.get("input") != entry["input"] and old.get("options") == entry["options"]:
            before = (previous or {}).get("environments", {}).get(target.env)
            reasons += describe_env_change(before, plan_lock["environments"][target.env]) or ["inputs changed"]
    if not reasons:
        reasons += _output_reasons(entry, target, state)
    return TargetStatus(target, bool(reasons), tuple(reasons) or ("up to date",))


def _output_reasons(entry: Doc, target: TargetSpec, state: BuildState) -> list[str]:
    if "sha256" not in entry:
        return ["not built yet"]
    digest = output_digest(target.output, state, target.name)
    if digest is None:
        return ["output missing"]
    if digest != entry["sha256"]:
        return ["output modified"]
    if target.sbom and not _sbom_exists(target.output):
        return ["SBOM missing"]
    built_by = state.built_by(target.name)
    if built_by is not None and built_by != __version__:
        return [f"built by condapack {built_by}"]
    return []


def _sbom_exists(output: Path) -> bool:
    from .sbom import sbom_path  # with packing's modules: a project without SBOMs does not import them

    return sbom_path(output).is_file()


def _fingerprint(project: Project, key: str, cache: StatCache) -> EnvFingerprint:
    try:
        return fingerprint_env(env_prefix(project, key), cache)
    except CondaPackError as exc:
        raise type(exc)(f"{project.path.name}: env.{key}: {exc}") from None


def make_plan(project: Project, names: Sequence[str] = (), *, force: bool = False,
              state: Optional[BuildState] = None) -> Plan:
    """Fingerprint every environment, render the lock in memory, and judge targets."""
    selected = select_targets(project, names)
    caches = {e.key: StatCache(project.state_dir / "statcache" / f"{e.key}.json") for e in project.envs}
    envs = {e.key: _fingerprint(project, e.key, caches[e.key]) for e in project.envs}
    previous = read_lock(project.lock_path)
    lock = render_lock(project, envs, previous)
    state = state or BuildState(project)
    statuses = tuple(_status(lock, previous, t, state, force) for t in selected)
    return Plan(project, envs, previous, lock, statuses, caches)
