"""Bring a build's ledger in line with its outputs: the lock, the state and ``SHA256SUMS``.

A build writes the ledger twice, whatever the number of targets: :func:`begin` forgets
every target it is about to replace (their old digests leave the ledger before any
output is touched), and :func:`commit`, once the targets are made or the build stopped,
enters what was made and puts back what was forgotten but left as it was. A build
stopped at any point, even by SIGKILL, so leaves a ledger that never claims a digest
for a file that is not there; a build killed between the two only makes the next one
rebuild the targets it had claimed. (A build that pushes images records each push in the
state once more, after both.)

Several ``condapack build`` processes may run at once (``make -j``): both steps run under
the project's mutex and merge with what is on disk, so no process loses another's
results. A target is put back only while the claim on it is still this build's: another
build that claimed it since may be replacing it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import uuid
from pathlib import Path
from typing import Iterator, Mapping, Optional, Sequence

import attrs

from ..bounded import check_directory, open_regular
from ..digest import file_digest
from ..output import sweep_temps, write_if_changed
from .config import SUMS_FILE, Project, TargetSpec
from .lock import Lock, LockedOutput, LockedTarget, read_lock, render_lock
from .memo import remove_old_memos, stat_key
from .plan import BuildPlan
from .sizes import report_path
from .state import BuildState, BuiltOutput

__all__ = ["Claim", "NO_CLAIM", "begin", "commit", "project_mutex", "write_lock"]

log = logging.getLogger("condapack")


@contextlib.contextmanager
def project_mutex(project: Project) -> Iterator[None]:
    """Hold the project's mutex: one process at a time reads and writes its ledger."""
    check_directory(project.state_dir)
    fd = open_regular(project.state_dir / "build.mutex", own=True, create=True)
    try:
        _acquire(fd)
        try:
            yield
        finally:
            _release(fd)
    finally:
        os.close(fd)


if sys.platform == "win32":
    import msvcrt

    def _acquire(fd: int) -> None:
        while True:
            try:  # LK_LOCK itself gives up after 10 seconds; builds may take longer
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                return
            except OSError:
                continue

    def _release(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _acquire(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _release(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def write_lock(plan: BuildPlan) -> bool:
    """``condapack lock``: write the lock of the planned environments unless it is unchanged.

    It is rendered again under the mutex from the lock on disk, as a build commits: a
    build that committed since this was planned keeps the outputs it entered.
    """
    project = plan.project
    with project_mutex(project):
        for memo in plan.memos.values():
            memo.save()
        lock = render_lock(project, plan.envs, read_lock(project.lock_path))
        return write_if_changed(project.lock_path, lock.to_json())


@attrs.frozen
class Claim:
    """The targets a build forgot before replacing them, with what the ledger said of each."""

    token: str
    outputs: Mapping[str, Path]
    #: target name -> its entry in the lock, as it was before the claim
    entries: Mapping[str, Optional[LockedTarget]]
    known: Mapping[str, Optional[BuiltOutput]]


#: The claim of a build that replaces nothing.
NO_CLAIM = Claim("", {}, {}, {})


def begin(plan: BuildPlan, state: BuildState, targets: Sequence[TargetSpec], locked: bool) -> Claim:
    """Forget the ``targets``' outputs in the ledger before any of them is replaced."""
    project = plan.project
    for target in targets:
        check_directory(target.output.parent)  # before the ledger forgets the output there
    names = [t.name for t in targets]
    with project_mutex(project):
        _sweep_temps(plan, state)
        on_disk = read_lock(project.lock_path)
        # another build may have forgotten an output on disk since this one planned: the plan still knows it
        entries = {n: _with_output(on_disk, n) or _with_output(plan.lock, n) for n in names}
        claim = Claim(uuid.uuid4().hex, {t.name: t.output for t in targets}, entries,
                      {n: state.outputs.get(n) for n in names})
        for name in names:
            state.claim(name, claim.token)
            on_disk = on_disk.without_output(name) if on_disk is not None else None
        _write(plan, state, render_lock(project, plan.envs, on_disk), locked)
    return claim


def commit(plan: BuildPlan, state: BuildState, claim: Claim, outputs: Mapping[str, LockedOutput], locked: bool,
           made: Sequence[str] = ()) -> None:
    """Enter the new ``outputs`` (and what ``state`` learnt), and put back the claimed targets not ``made``."""
    project = plan.project
    with project_mutex(project):
        _sweep_temps(plan, state)
        remove_old_memos(project.state_dir)
        on_disk = read_lock(project.lock_path)
        ours = state.release(claim.outputs)
        for name in [n for n in claim.outputs if n in ours and n not in made]:
            on_disk = _put_back(state, claim, name, on_disk)
        _write(plan, state, render_lock(project, plan.envs, on_disk, _in_place(plan, state, outputs, made)), locked)


def _in_place(plan: BuildPlan, state: BuildState, new: Mapping[str, LockedOutput],
              made: Sequence[str]) -> dict[str, LockedOutput]:
    """What this build made that is still in place, by its stat noted right after hashing it.

    Another build of the same target may have put its output over this one's since, and
    committed first: its digest, already on disk, is the true one.
    """
    outputs = {t.name: t.output for t in plan.project.targets}
    for name in made:
        if state.trusted(name, outputs[name]) is None:
            state.withdraw(name)
    return {name: entry for name, entry in new.items() if state.trusted(name, outputs[name]) is not None}


def _with_output(lock: Optional[Lock], name: str) -> Optional[LockedTarget]:
    entry = lock.targets.get(name) if lock is not None else None
    return entry if entry is not None and entry.output is not None else None


def _put_back(state: BuildState, claim: Claim, name: str, on_disk: Optional[Lock]) -> Optional[Lock]:
    """What the ledger said of a claimed output left as it was (its stat unchanged), back in it.

    The lock gets its digest back only when the state, which vouches for the file by its
    stat, knows the same one.
    """
    known, entry, output = claim.known[name], claim.entries[name], claim.outputs[name]
    if known is None or not output.exists() or stat_key(output.stat()) != known.stat:
        return on_disk
    state.restore(name, known)
    if on_disk is None or entry is None or entry.output is None or entry.output.sha256 != known.sha256 or \
            name not in on_disk.targets:
        return on_disk
    return attrs.evolve(on_disk, targets={**on_disk.targets, name: entry})


def _write(plan: BuildPlan, state: BuildState, lock: Lock, locked: bool) -> None:
    project = plan.project
    if not locked:
        write_if_changed(project.lock_path, lock.to_json())
    state.save()  # first: it merges in what other builds recorded, which the sums list too
    _write_sums(project, _sums(project, lock, state))
    for memo in plan.memos.values():
        memo.save()


def _sums(project: Project, lock: Lock, state: BuildState) -> bytes:
    lines = []
    for target in project.targets:
        entry = lock.targets[target.name]
        sha256 = entry.output.sha256 if entry.output is not None else state.fetched(target.name, entry.input)
        if sha256 is not None and target.output.is_file() and target.output.parent == project.output_dir and \
                _is_file_of(state, target, sha256):
            lines.append(f"{sha256}  {target.output.name}\n")
            page = report_path(target.output)
            if page.is_file():
                lines.append(f"{file_digest(str(page))}  {page.name}\n")
            sbom = sbom_path(target.output) if target.sbom else None
            if sbom is not None and sbom.is_file():
                lines.append(f"{file_digest(str(sbom))}  {sbom.name}\n")
    return "".join(sorted(lines, key=lambda line: line.split("  ", 1)[1])).encode()


def _is_file_of(state: BuildState, target: TargetSpec, sha256: str) -> bool:
    """Whether the target's output is the file of digest ``sha256``: the state vouches for it by
    its stat, else (a damaged or lost state, a file replaced by hand) its bytes are hashed."""
    known = state.trusted(target.name, target.output)
    if known is not None:
        return known.sha256 == sha256
    return file_digest(str(target.output)) == sha256


def sbom_path(output: Path) -> Path:
    """Where an output's SBOM is (the SBOM module is imported only when asked)."""
    from ..sbom import sbom_path

    return sbom_path(output)


def _sweep_temps(plan: BuildPlan, state: BuildState) -> None:
    """Remove what writes of the ledger killed outright left: their writers hold the project's mutex."""
    project = plan.project
    paths = [project.lock_path, state.path, project.output_dir / SUMS_FILE]
    for memo in plan.memos.values():
        paths += [p for p in (memo.path, memo.tree_path, memo.listings_path) if p is not None]
    for name in sweep_temps(paths):
        log.info("removed %s, left behind by an interrupted run", name)


def _write_sums(project: Project, sums: bytes) -> None:
    path = project.output_dir / SUMS_FILE
    if sums:
        check_directory(project.output_dir)
        write_if_changed(path, sums)
    elif path.is_file():
        path.unlink()  # an empty SHA256SUMS would fail `sha256sum --check`
