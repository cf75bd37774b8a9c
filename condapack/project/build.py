"""Run a plan: build the out-of-date targets, recording each in the lock and ``SHA256SUMS``.

Several ``condapack build`` processes may run at once (``make -j``): each builds its own
targets, and the lock, the state and ``SHA256SUMS`` are updated under a file lock by
merging with what is on disk, so no process loses another's results.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Literal, Mapping, MutableMapping, Optional, Sequence

import attrs

from ..bounded import check_directory, open_regular
from ..digest import content_digest, content_size, file_digest
from ..errors import CondaPackError, ConfigError
from ..options import PackOptions
from ..output import sweep_temps, write_if_changed
from .config import SUMS_FILE, Project, TargetSpec
from .lock import Lock, LockedImage, LockedOutput, compress_level, describe_lock_drift, read_lock, render_lock
from .plan import BuildPlan, env_prefix, make_plan
from .sizes import report_path, write_report
from .state import BuildState

# Packing, the artifact cache and SBOMs are imported when a target is built: a no-op
# build's start-up does not pay for them.
if TYPE_CHECKING:
    from ..cache import ArtifactCache, CacheSettings
    from ..environment import CondaEnv
    from ..packing import ProgressFn
    from ..prefix import Reading

__all__ = ["BuildResult", "build", "check_locked", "write_lock", "target_env"]

log = logging.getLogger("condapack")


@attrs.frozen
class BuildResult:
    """What happened to one selected target."""

    target: TargetSpec
    status: Literal["up to date", "fetched", "built"]
    reasons: tuple[str, ...]
    size: Optional[int]
    seconds: float
    sha256: Optional[str]
    uploaded: bool = False

    @property
    def built(self) -> bool:
        """Whether the output was (re)made, by packing or from the cache."""
        return self.status != "up to date"


def check_locked(plan: BuildPlan) -> None:
    """``--locked``: the lock on disk must be exactly the one planned."""
    if plan.previous is None:
        raise ConfigError(f"{plan.project.lock_path.name} is missing and --locked forbids creating it; "
                          "run condapack lock and commit the lock file")
    if plan.previous.to_json() != plan.lock.to_json():
        drift = "; ".join(describe_lock_drift(plan.previous, plan.lock))
        raise ConfigError(f"{plan.project.lock_path.name} does not match the project and environments "
                          f"({drift}); run condapack lock to update it")


@contextlib.contextmanager
def _project_lock(project: Project) -> Iterator[None]:
    check_directory(project.state_dir)
    fd = open_regular(project.state_dir / "build.lock", own=True, create=True)
    try:
        _lock(fd)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


if sys.platform == "win32":
    import msvcrt

    def _lock(fd: int) -> None:
        while True:
            try:  # LK_LOCK itself gives up after 10 seconds; builds may take longer
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                return
            except OSError:
                continue

    def _unlock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def write_lock(plan: BuildPlan) -> bool:
    """``condapack lock``: write the planned lock unless it is unchanged."""
    with _project_lock(plan.project):
        for cache in plan.caches.values():
            cache.save()
        return write_if_changed(plan.project.lock_path, plan.lock.to_json())


def target_env(project: Project, target: TargetSpec, envs: dict[str, CondaEnv],
               readings: Optional[MutableMapping[str, Reading]] = None) -> CondaEnv:
    """The environment of a target with its excludes applied.

    It is scanned from ``readings`` (what the plan read) when there, else read; ``envs``
    keeps each scan for the other targets of the build. A reading leaves ``readings`` once
    scanned: its records and owners would hold every path of the environment a second
    time while packing (40 MB at 160,000 files).
    """
    from ..environment import CondaEnv
    from ..filters import gitignore_filter
    from ..prefix import read_prefix, scan_reading

    options = target.options
    cache_key = ":".join(map(str, (target.env, options.ignore_editable_packages, options.ignore_missing_files)))
    if cache_key not in envs:
        reading = (readings or {}).pop(target.env, None) or read_prefix(env_prefix(project, target.env))
        scan = scan_reading(reading, ignore_editable_packages=options.ignore_editable_packages,
                            ignore_missing_files=options.ignore_missing_files)
        envs[cache_key] = CondaEnv.from_scan(scan)
    env = envs[cache_key]
    if not target.exclude:
        return env
    return attrs.evolve(env, files=gitignore_filter(env.files, target.exclude, key=lambda f: f.target))


def _options(target: TargetSpec, threads: Optional[int]) -> PackOptions:
    return target.options if threads is None else attrs.evolve(target.options, n_threads=threads)


def _build_one(plan: BuildPlan, target: TargetSpec, envs: dict[str, CondaEnv], readings: dict[str, Reading],
               progress: Optional[ProgressFn], threads: Optional[int], expected: Optional[str]) -> None:
    """Pack the target; with ``expected`` (``--locked``) only bytes of that sha256 replace the output."""
    env = target_env(plan.project, target, envs, readings)
    try:
        if expected is None:
            env.pack_with(_options(target, threads), progress=progress)
        else:
            _pack_reproduced(plan, target, env, _options(target, threads), progress, expected)
    except CondaPackError as exc:
        raise type(exc)(f"{target.name}: {exc}") from None


def _pack_reproduced(plan: BuildPlan, target: TargetSpec, env: CondaEnv, options: PackOptions,
                     progress: Optional[ProgressFn], expected: str) -> None:
    """Pack into a held directory beside the output, which the archive leaves only if it has ``expected``."""
    from ..archive.directory import replace_directory
    from ..output import created_and_held, publish, temp_name

    staging = Path(temp_name(target.output, ".part"))  # swept by the next pack if this one is killed
    try:
        with created_and_held(str(staging), lambda path: os.mkdir(path, 0o700)):
            # one level down: the pack locks the directory it writes in, and this one is held
            staged = staging / "out" / target.output.name
            staged.parent.mkdir()
            env.pack_with(attrs.evolve(options, output=str(staged)), progress=progress)
            digest = content_digest(staged)
            if digest != expected:
                raise ConfigError(f"the archive built here has sha256 {digest[:12]}... but "
                                  f"{plan.project.lock_path.name} records {expected[:12]}...; the environment "
                                  "content differs in a way the lock does not capture")
            replace_directory(staged, target.output) if staged.is_dir() else publish(str(staged), target.output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _sums(project: Project, lock: Lock, state: BuildState) -> bytes:
    lines = []
    for target in project.targets:
        entry = lock.targets[target.name]
        sha256 = entry.output.sha256 if entry.output is not None else state.fetched(target.name, entry.input)
        if sha256 is not None and target.output.is_file() and target.output.parent == project.output_dir:
            lines.append(f"{sha256}  {target.output.name}\n")
            page = report_path(target.output)
            if page.is_file():
                lines.append(f"{file_digest(str(page))}  {page.name}\n")
            sbom = _sbom_path(target.output) if target.sbom else None
            if sbom is not None and sbom.is_file():
                lines.append(f"{file_digest(str(sbom))}  {sbom.name}\n")
    return "".join(sorted(lines, key=lambda line: line.split("  ", 1)[1])).encode()


def _sbom_path(output: Path) -> Path:
    from ..sbom import sbom_path

    return sbom_path(output)


def build(project: Project, names: Sequence[str] = (), *, force: bool = False, locked: bool = False,
          progress: Optional[ProgressFn] = None, threads: Optional[int] = None,
          cache: Optional[CacheSettings] = None, report: bool = False) -> list[BuildResult]:
    """Build what is out of date; return one result per selected target.

    ``report``: write each archive's HTML size report beside it (``ARCHIVE.size.html``),
    also for an up-to-date archive without one. Rebuilding an archive removes its old
    report, which describes the archive that was there.

    ``threads`` overrides every target's thread count (it never changes the bytes).
    ``cache`` (default: the project's ``[cache]``) is tried before packing a target,
    except with ``force``, and receives what was packed when it is writable.
    """
    state = BuildState(project)
    plan = make_plan(project, names, force=force, state=state)
    # taken out of the plan, so that target_env can let each go once it is scanned
    readings, plan = dict(plan.readings), attrs.evolve(plan, readings={})
    if locked:
        check_locked(plan)
    artifacts = _open_cache(cache if cache is not None else project.cache)
    built: dict[str, LockedOutput] = {}
    results: list[BuildResult] = []
    envs: dict[str, CondaEnv] = {}
    for status in plan.targets:
        target = status.target
        if not status.build:
            recorded = plan.lock.targets[target.name].output
            results.append(BuildResult(target, "up to date", status.reasons, content_size(target.output), 0.0,
                                       recorded.sha256 if recorded is not None else None))
            if report and not report_path(target.output).is_file():
                _write_report(target)
            continue
        start = time.monotonic()
        check_directory(target.output.parent)  # before the lock forgets the output there
        _record(plan, state, built, locked, forget=target.name)
        _remove_report(target)
        try:
            key, how = _produce(plan, target, envs, readings, progress, threads, None if force else artifacts,
                                locked)
        except BaseException:
            _record(plan, state, built, locked)  # the old output, if any, is still there
            raise
        digest = content_digest(target.output)
        size = content_size(target.output) or 0
        uploaded = how == "built" and artifacts is not None and key is not None and \
            artifacts.upload(target.name, key, target.output, digest, size)
        if target.sbom:
            from ..sbom import write_sbom

            env = target_env(project, target, envs, readings)
            write_sbom(env.packages, env.files, target.output, digest)
        if report:
            _write_report(target)
        entry = plan.lock.targets[target.name]
        if how == "fetched" and entry.output is None:
            state.record(target.name, target.output, digest, fetched_for=entry.input)  # never into the lock
        else:
            built[target.name] = LockedOutput(digest, size, _image(target))
            state.record(target.name, target.output, digest)
        _record(plan, state, built, locked)
        results.append(BuildResult(target, how, status.reasons, size, time.monotonic() - start, digest, uploaded))
    if not built or report:
        _record(plan, state, built, locked)
    _push(plan, state, built)
    return results


def _write_report(target: TargetSpec) -> None:
    """The report of a tar or zip archive (the size report reads no image, installer or directory)."""
    from ..archive.formats import get_format

    if get_format(target.format).container and target.output.is_file():
        write_report(target.output)


def _remove_report(target: TargetSpec) -> None:
    with contextlib.suppress(FileNotFoundError):
        report_path(target.output).unlink()


def _push(plan: BuildPlan, state: BuildState, built: Mapping[str, LockedOutput]) -> None:
    """Push each ``push`` reference whose images changed since this project last pushed it.

    Several oci targets pushing to one reference (environments of different platforms)
    are pushed as one image index. A reference is pushed only when every target naming
    it is built; what was pushed is recorded in the build state, so a failed push is
    tried again by the next build, and a no-op build pushes nothing.
    """
    groups: dict[str, list[TargetSpec]] = {}
    for target in plan.project.targets:
        if target.push is not None:
            groups.setdefault(target.push, []).append(target)
    for reference, targets in groups.items():
        images = [m for m in (_manifest(plan, t, built) for t in targets) if m is not None]
        if len(images) != len(targets) or state.pushed.get(reference) == ",".join(images):
            continue
        from ..oci.registry import push_images

        sboms = [_sbom_path(t.output) if t.sbom else None for t in targets]
        result = push_images([t.output for t in targets], reference, sboms)
        log.info("pushed %s@%s: %d blobs uploaded (%d bytes with the manifest), %d already there",
                 reference, result.digest, len(result.uploaded), result.uploaded_bytes, len(result.skipped))
        state.record_push(reference, ",".join(images))
        with _project_lock(plan.project):
            state.save()


def _manifest(plan: BuildPlan, target: TargetSpec, built: Mapping[str, LockedOutput]) -> Optional[str]:
    """The manifest digest of an oci target's image: as built or locked, else read from its output
    (fetched from the shared cache, which never records into the lock); None when there is none."""
    recorded = built.get(target.name) or plan.lock.targets[target.name].output
    if recorded is not None and recorded.image is not None:
        return recorded.image.manifest
    image = _image(target) if target.output.exists() else None
    return image.manifest if image is not None else None


def _image(target: TargetSpec) -> Optional[LockedImage]:
    """An OCI image's digests, for the lock (None for other formats)."""
    if target.format != "oci":
        return None
    from ..oci.source import image_digests

    manifest, layers = image_digests(target.output)
    return LockedImage(manifest, layers)


def _open_cache(settings: CacheSettings) -> Optional[ArtifactCache]:
    if not settings.url:
        return None
    from ..cache import open_cache

    return open_cache(settings)


def _produce(plan: BuildPlan, target: TargetSpec, envs: dict[str, CondaEnv], readings: dict[str, Reading],
             progress: Optional[ProgressFn], threads: Optional[int],
             artifacts: Optional[ArtifactCache], locked: bool) -> tuple[Optional[str], Literal["fetched", "built"]]:
    """Fetch the target from the cache, else pack it; return its cache key and which it was."""
    from ..cache.key import artifact_key

    entry = plan.lock.targets[target.name]
    key = None if target.format == "no-archive" else artifact_key(entry.input, target.format, compress_level(target))
    if artifacts is not None and key is not None and _fetch(plan, target, artifacts, key, locked):
        return key, "fetched"
    recorded = entry.output.sha256 if locked and entry.output is not None else None
    _build_one(plan, target, envs, readings, progress, threads, recorded)
    return key, "built"


def _fetch(plan: BuildPlan, target: TargetSpec, artifacts: ArtifactCache, key: str, locked: bool) -> bool:
    """Fetch the target's archive if the cache has one with the sha256 the lock records."""
    from ..cache import LockMismatch

    recorded = plan.lock.targets[target.name].output
    try:
        return artifacts.fetch(target.name, key, target.output, recorded.sha256 if recorded else None) is not None
    except LockMismatch as exc:
        if locked or artifacts.settings.require:
            flag = "--locked" if locked else "--require-cache"
            raise ConfigError(f"{exc} ({plan.project.lock_path.name}); {flag} leaves the output as it was: "
                              "replace the cached object, or build without the flag") from None
        log.warning("%s (%s); building it here instead", exc, plan.project.lock_path.name)
        return False


def _record(plan: BuildPlan, state: BuildState, built: Mapping[str, LockedOutput], locked: bool,
            forget: Optional[str] = None) -> None:
    """Bring the lock, the state and ``SHA256SUMS`` in line with what is on disk now.

    Called before each target is replaced (``forget``: its old digest leaves the
    records) and after (its new one joins them), so a build stopped at any point,
    even by SIGKILL, leaves records that describe the files there.
    """
    project = plan.project
    with _project_lock(project):
        _sweep_temps(plan, state)
        on_disk = read_lock(project.lock_path)
        if forget is not None:
            state.forget(forget)
            on_disk = on_disk.without_output(forget) if on_disk is not None else None
        lock = render_lock(project, plan.envs, on_disk, built)
        if forget is not None:
            lock = lock.without_output(forget)
        if not locked:
            write_if_changed(project.lock_path, lock.to_json())
        _write_sums(project, _sums(project, lock, state))
        state.save()
        for cache in plan.caches.values():
            cache.save()


def _sweep_temps(plan: BuildPlan, state: BuildState) -> None:
    """Remove what writes of the records killed outright left: their writers hold the project lock."""
    project = plan.project
    paths = [project.lock_path, state.path, project.output_dir / SUMS_FILE]
    for cache in plan.caches.values():
        paths += [p for p in (cache.path, cache.tree_path, cache.listings_path) if p is not None]
    for name in sweep_temps(paths):
        log.info("removed %s, left behind by an interrupted run", name)


def _write_sums(project: Project, sums: bytes) -> None:
    path = project.output_dir / SUMS_FILE
    if sums:
        check_directory(project.output_dir)
        write_if_changed(path, sums)
    elif path.is_file():
        path.unlink()  # an empty SHA256SUMS would fail `sha256sum --check`
