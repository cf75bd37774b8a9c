"""Make one target's output: fetch it from the artifact cache, else pack its environment."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Literal, MutableMapping, Optional

import attrs

from ..digest import content_digest
from ..errors import CondaPackError, ConfigError
from ..options import PackOptions
from .config import Project, TargetSpec
from .lock import LockedTarget, compress_level
from .plan import env_prefix

# Packing and the artifact cache are imported when a target is made: a no-op build's
# start-up does not pay for them.
if TYPE_CHECKING:
    from ..cache import ArtifactCache, CacheSettings
    from ..environment import CondaEnv
    from ..packing import ProgressFn
    from ..prefix import Reading

__all__ = ["Producer", "open_artifacts", "target_env"]

log = logging.getLogger("condapack")


def target_env(project: Project, target: TargetSpec, envs: dict[str, CondaEnv],
               readings: Optional[MutableMapping[str, Reading]] = None) -> CondaEnv:
    """The environment of a target with its excludes applied.

    It is scanned from ``readings`` (what the plan read) when there, else read; ``envs``
    keeps each scan for the other targets of the build. A reading leaves ``readings`` once
    scanned: its records and owners would hold every path of the environment a second
    time while packing.
    """
    from ..environment import CondaEnv
    from ..filters import gitignore_filter
    from ..prefix import read_prefix, scan_reading

    options = target.options
    scan_key = ":".join(map(str, (target.env, options.ignore_editable_packages, options.ignore_missing_files)))
    if scan_key not in envs:
        reading = (readings or {}).pop(target.env, None) or read_prefix(env_prefix(project, target.env))
        scan = scan_reading(reading, ignore_editable_packages=options.ignore_editable_packages,
                            ignore_missing_files=options.ignore_missing_files)
        envs[scan_key] = CondaEnv.from_scan(scan)
    env = envs[scan_key]
    if not target.exclude:
        return env
    return attrs.evolve(env, files=gitignore_filter(env.files, target.exclude, key=lambda f: f.target))


def open_artifacts(settings: CacheSettings) -> Optional[ArtifactCache]:
    """The artifact cache the settings name, if any."""
    if not settings.url:
        return None
    from ..cache import open_cache

    return open_cache(settings)


@attrs.define
class Producer:
    """What making targets needs across a build: the plan's readings, the scans made from them, and how to pack."""

    project: Project
    readings: dict[str, Reading]
    progress: Optional[ProgressFn]
    threads: Optional[int]
    #: None with ``--force``: every output is packed here
    artifacts: Optional[ArtifactCache]
    envs: dict[str, CondaEnv] = attrs.field(factory=dict)

    def env(self, target: TargetSpec) -> CondaEnv:
        """The target's environment (scanned once per build)."""
        return target_env(self.project, target, self.envs, self.readings)

    def make(self, target: TargetSpec, entry: LockedTarget,
             locked: bool) -> tuple[Optional[str], Literal["fetched", "built"]]:
        """Fetch the target from the cache, else pack it; return its cache key and which it was.

        With ``locked`` only bytes of the sha256 the lock records replace the output.
        """
        from ..cache.key import artifact_key

        key = None if target.format == "no-archive" else artifact_key(entry.input, target.format,
                                                                      compress_level(target))
        if self.artifacts is not None and key is not None and self._fetch(target, entry, key, locked):
            return key, "fetched"
        try:
            if locked and entry.output is not None:
                self._pack_reproduced(target, entry.output.sha256)
            else:
                self.env(target).pack_with(self._options(target), progress=self.progress)
        except CondaPackError as exc:
            raise type(exc)(f"{target.name}: {exc}") from None
        return key, "built"

    def _options(self, target: TargetSpec) -> PackOptions:
        return target.options if self.threads is None else attrs.evolve(target.options, n_threads=self.threads)

    def _pack_reproduced(self, target: TargetSpec, expected: str) -> None:
        """Pack into a held directory beside the output, which the archive leaves only if it has ``expected``."""
        from ..archive.directory import replace_directory
        from ..output import created_and_held, publish, temp_name

        staging = Path(temp_name(target.output, ".part"))  # swept by the next pack if this one is killed
        try:
            with created_and_held(str(staging), lambda path: os.mkdir(path, 0o700)):
                # one level down: the pack takes the mutex of the directory it writes in, and this one is held
                staged = staging / "out" / target.output.name
                staged.parent.mkdir()
                options = attrs.evolve(self._options(target), output=str(staged))
                self.env(target).pack_with(options, progress=self.progress)
                digest = content_digest(staged)
                if digest != expected:
                    raise ConfigError(f"the archive built here has sha256 {digest[:12]}... but "
                                      f"{self.project.lock_path.name} records {expected[:12]}...; the environment "
                                      "content differs in a way the lock does not capture")
                replace_directory(staged, target.output) if staged.is_dir() else publish(str(staged), target.output)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _fetch(self, target: TargetSpec, entry: LockedTarget, key: str, locked: bool) -> bool:
        """Fetch the target's archive if the cache has one with the sha256 the lock records."""
        from ..cache import LockMismatch

        assert self.artifacts is not None
        recorded = entry.output
        try:
            fetched = self.artifacts.fetch(target.name, key, target.output, recorded.sha256 if recorded else None)
            return fetched is not None
        except LockMismatch as exc:
            lock_name = self.project.lock_path.name
            if locked or self.artifacts.settings.require:
                flag = "--locked" if locked else "--require-cache"
                raise ConfigError(f"{exc} ({lock_name}); {flag} leaves the output as it was: "
                                  "replace the cached object, or build without the flag") from None
            log.warning("%s (%s); building it here instead", exc, lock_name)
            return False
