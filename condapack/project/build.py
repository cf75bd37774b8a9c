"""Run a plan: make the out-of-date targets, then commit them to the ledger (lock, state, ``SHA256SUMS``).

How the ledger stays true when a build is stopped, or when several run at once, is
:mod:`condapack.project.commit`'s.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Literal, Mapping, Optional, Sequence

import attrs

from ..digest import content_digest, content_size
from ..errors import ConfigError
from .commit import NO_CLAIM, begin, commit, project_mutex, sbom_path
from .config import Project, TargetSpec
from .lock import LockedImage, LockedOutput, describe_lock_drift
from .plan import BuildPlan, TargetStatus, make_plan
from .produce import Producer, open_artifacts
from .sizes import report_path, write_report
from .state import BuildState

if TYPE_CHECKING:
    from ..cache import CacheSettings
    from ..packing import ProgressFn

__all__ = ["BuildResult", "build", "check_locked"]

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
    def made(self) -> bool:
        """Whether the output was (re)made, by packing ("built") or from the cache ("fetched")."""
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
    if locked:
        check_locked(plan)
    artifacts = open_artifacts(cache if cache is not None else project.cache)
    # the readings are taken out of the plan, so that each can go once it is scanned
    producer = Producer(project, dict(plan.readings), progress, threads, None if force else artifacts)
    run = Build(attrs.evolve(plan, readings={}), state, producer, locked, report)
    results = run.run()
    _push(plan, state, run.outputs)
    return results


@attrs.define
class Build:
    """One build of a plan: what it made so far, recorded once at the end."""

    plan: BuildPlan
    state: BuildState
    producer: Producer
    locked: bool
    report: bool
    #: target name -> its new output, for the lock
    outputs: dict[str, LockedOutput] = attrs.field(factory=dict)
    #: the targets whose output was replaced (built, or fetched)
    made: list[str] = attrs.field(factory=list)

    def run(self) -> list[BuildResult]:
        """Make every out-of-date target, then commit the ledger (also when stopped)."""
        claim = begin(self.plan, self.state, [s.target for s in self.plan.to_build], self.locked) \
            if self.plan.to_build else NO_CLAIM
        try:
            return [self._make(status) if status.build else self._up_to_date(status)
                    for status in self.plan.targets]
        finally:
            commit(self.plan, self.state, claim, self.outputs, self.locked, self.made)

    def _up_to_date(self, status: TargetStatus) -> BuildResult:
        target = status.target
        recorded = self.plan.lock.targets[target.name].output
        if self.report and not report_path(target.output).is_file():
            _write_report(target)
        return BuildResult(target, "up to date", status.reasons, content_size(target.output), 0.0,
                           recorded.sha256 if recorded is not None else None)

    def _make(self, status: TargetStatus) -> BuildResult:
        target, start = status.target, time.monotonic()
        entry = self.plan.lock.targets[target.name]
        _remove_report(target)
        key, how = self.producer.make(target, entry, self.locked)
        self.made.append(target.name)  # its old output is gone: nothing of it is put back
        digest, size = content_digest(target.output), content_size(target.output) or 0
        artifacts = self.producer.artifacts
        uploaded = how == "built" and artifacts is not None and key is not None and \
            artifacts.upload(target.name, key, target.output, digest, size)
        if target.sbom:
            from ..sbom import write_sbom

            env = self.producer.env(target)
            write_sbom(env.packages, env.files, target.output, digest)
        if self.report:
            _write_report(target)
        if how == "fetched" and entry.output is None:
            self.state.note(target.name, target.output, digest, fetched_for=entry.input)  # never into the lock
        else:
            self.outputs[target.name] = LockedOutput(digest, size, _image(target))
            self.state.note(target.name, target.output, digest)
        return BuildResult(target, how, status.reasons, size, time.monotonic() - start, digest, uploaded)


def _write_report(target: TargetSpec) -> None:
    """The report of a tar or zip archive (the size report reads no image, installer or directory)."""
    from ..archive.formats import get_format

    if get_format(target.format).container and target.output.is_file():
        write_report(target.output)


def _remove_report(target: TargetSpec) -> None:
    with contextlib.suppress(FileNotFoundError):
        report_path(target.output).unlink()


def _push(plan: BuildPlan, state: BuildState, outputs: Mapping[str, LockedOutput]) -> None:
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
        images = [m for m in (_manifest(plan, t, outputs) for t in targets) if m is not None]
        if len(images) != len(targets) or state.pushed.get(reference) == ",".join(images):
            continue
        from ..oci.registry import push_images

        sboms = [sbom_path(t.output) if t.sbom else None for t in targets]
        result = push_images([t.output for t in targets], reference, sboms)
        log.info("pushed %s@%s: %d blobs uploaded (%d bytes with the manifest), %d already there",
                 reference, result.digest, len(result.uploaded), result.uploaded_bytes, len(result.skipped))
        state.note_push(reference, ",".join(images))
        with project_mutex(plan.project):
            state.save()


def _manifest(plan: BuildPlan, target: TargetSpec, outputs: Mapping[str, LockedOutput]) -> Optional[str]:
    """The manifest digest of an oci target's image: as built or locked, else read from its output
    (fetched from the shared cache, which never records into the lock); None when there is none."""
    recorded = outputs.get(target.name) or plan.lock.targets[target.name].output
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
