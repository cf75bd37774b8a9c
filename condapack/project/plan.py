"""Decide which targets are out of date, and why, without changing anything.

Staleness is decided the way Cargo does it: the lock is re-planned in memory from the
project file and the environments' fingerprints and compared with the one on disk. A
target is up to date when its input digest matches the lock, the lock records its
output's sha256, the output exists with that digest, and it was built by this version
of condapack.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional, Sequence

import attrs

from .._version import __version__
from ..archive.formats import ALIASES
from ..errors import CondaPackError, ConfigError, did_you_mean
from ..locate import find_prefix
from .config import Project, TargetSpec
from .fingerprint import EnvFingerprint, read_and_fingerprint
from .lock import Lock, LockedTarget, changed_options, describe_env_change, read_lock, render_lock
from .memo import Memo, memo_dir
from .state import BuildState, output_digest

if TYPE_CHECKING:
    from ..prefix import Reading

__all__ = ["TargetStatus", "BuildPlan", "make_plan", "select_targets", "env_prefix"]


@attrs.frozen
class TargetStatus:
    """One selected target: whether it must be built, and why."""

    target: TargetSpec
    build: bool
    reasons: tuple[str, ...]


@attrs.frozen
class BuildPlan:
    """The planned lock and the status of each selected target.

    ``readings`` are the environments that had to be read to fingerprint them: a build packs from
    them instead of reading each environment again.
    """

    project: Project
    envs: Mapping[str, EnvFingerprint]
    previous: Optional[Lock]
    lock: Lock
    targets: tuple[TargetStatus, ...]
    memos: Mapping[str, Memo]
    readings: Mapping[str, Reading] = attrs.field(factory=dict, eq=False, repr=False)

    @property
    def to_build(self) -> list[TargetStatus]:
        """Targets that are out of date."""
        return [t for t in self.targets if t.build]


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
            raise ConfigError(f"{project.path.name}: no target {name!r}{did_you_mean(name, known, known='targets')}")
        chosen.update((t.name, t) for t in matches)
    return [t for t in project.targets if t.name in chosen]


def _status(lock: Lock, previous: Optional[Lock], target: TargetSpec, state: BuildState,
            force: bool) -> TargetStatus:
    entry = lock.targets[target.name]
    old = previous.targets.get(target.name) if previous is not None else None
    reasons: list[str] = ["forced"] if force else []
    if old is None:
        reasons.append("new target")
    elif old.options != entry.options:
        reasons.append(f"options changed ({', '.join(changed_options(old, entry))})")
    elif old.input != entry.input:
        before = previous.environments.get(target.env) if previous is not None else None
        reasons += describe_env_change(before, lock.environments[target.env]) or ["inputs changed"]
    if not reasons:
        reasons += _output_reasons(entry, target, state)
    return TargetStatus(target, bool(reasons), tuple(reasons) or ("up to date",))


def _output_reasons(entry: LockedTarget, target: TargetSpec, state: BuildState) -> list[str]:
    expected = entry.output.sha256 if entry.output is not None else state.fetched(target.name, entry.input)
    if expected is None:
        return ["not built yet"]
    digest = output_digest(target.output, state, target.name)
    if digest is None:
        return ["output missing"]
    if digest != expected:
        return ["output modified"]
    if target.sbom and not _sbom_exists(target.output):
        return ["SBOM missing"]
    built_by = state.built_by(target.name)
    if built_by is not None and built_by != __version__:
        return [f"built by condapack {built_by}"]
    return []


def _sbom_exists(output: Path) -> bool:
    from ..sbom import sbom_path  # with packing's modules: a project without SBOMs does not import them

    return sbom_path(output).is_file()


def _read(project: Project, key: str, memo: Memo) -> tuple[Optional[Reading], EnvFingerprint]:
    try:
        fingerprint, reading = read_and_fingerprint(env_prefix(project, key), memo)
        return reading, fingerprint
    except CondaPackError as exc:
        raise type(exc)(f"{project.path.name}: env.{key}: {exc}") from None


def make_plan(project: Project, names: Sequence[str] = (), *, force: bool = False,
              state: Optional[BuildState] = None) -> BuildPlan:
    """Fingerprint every environment, render the lock in memory, and judge targets."""
    selected = select_targets(project, names)
    where = memo_dir(project.state_dir)
    memos = {e.key: Memo(where / f"{e.key}.json" if where else None) for e in project.envs}
    read = {e.key: _read(project, e.key, memos[e.key]) for e in project.envs}
    envs = {key: fingerprint for key, (_reading, fingerprint) in read.items()}
    previous = read_lock(project.lock_path)
    lock = render_lock(project, envs, previous)
    state = state or BuildState(project)
    statuses = tuple(_status(lock, previous, t, state, force) for t in selected)
    return BuildPlan(project, envs, previous, lock, statuses, memos,
                     readings={key: reading for key, (reading, _fp) in read.items() if reading is not None})
