"""What makes a target stale, decided on hand-made projects, fingerprints and locks (no real environment)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import attrs
import pytest

from condapack._version import __version__
from condapack.project.config import Project, TargetSpec, load_project
from condapack.project.fingerprint import EnvFingerprint
from condapack.project.lock import Lock, LockedOutput, render_lock
from condapack.project.plan import TargetStatus, _status, make_plan
from condapack.project.state import BuildState, BuiltOutput
from condapack.records import PackageId

ZLIB = {"build": "h0_0", "channel": "local", "name": "zlib", "sha256": "11" * 32, "version": "1.3"}
ARCHIVE = b"the archive's bytes\n"


def project_of(tmp_path: Path, tiny_env: Path, extra: str = "") -> Project:
    path = tmp_path / "condapack.toml"
    path.write_text(f'[env.tiny]\nprefix = "{tiny_env}"\nformats = ["tar"]\n{extra}')
    return load_project(path)


def fingerprint(version: str = "1.3", files: str = "22" * 32) -> EnvFingerprint:
    return EnvFingerprint((PackageId(**{**ZLIB, "version": version}),), 2, files)


def lock_of(project: Project, env: EnvFingerprint, built: bytes | None = ARCHIVE) -> Lock:
    """The lock as a build of ``project`` from ``env`` writes it (``built``: the output's bytes)."""
    outputs = {} if built is None else {"tiny:tar": LockedOutput(hashlib.sha256(built).hexdigest(), len(built))}
    return render_lock(project, {"tiny": env}, None, outputs)


def built(project: Project, data: bytes = ARCHIVE, by: str = __version__) -> tuple[TargetSpec, BuildState]:
    """The tar target's output written with ``data`` and recorded in the state as built by ``by``."""
    target = project.targets[0]
    target.output.parent.mkdir(parents=True, exist_ok=True)
    target.output.write_bytes(data)
    state = BuildState(project)
    state.note(target.name, target.output, hashlib.sha256(data).hexdigest())
    state.outputs[target.name] = attrs.evolve(state.outputs[target.name], condapack=by)
    return target, state


def status(project: Project, previous: Lock | None, env: EnvFingerprint, state: BuildState,
           force: bool = False) -> TargetStatus:
    """The tar target's status when ``previous`` is on disk and the environment is ``env``."""
    return _status(render_lock(project, {"tiny": env}, previous), previous, project.targets[0], state, force)


def test_a_target_whose_input_and_output_match_the_lock_is_up_to_date(tmp_path: Path, tiny_env: Path) -> None:
    project = project_of(tmp_path, tiny_env)
    target, state = built(project)
    assert status(project, lock_of(project, fingerprint()), fingerprint(), state) == TargetStatus(
        target, False, ("up to date",))


def test_forcing_builds_an_up_to_date_target(tmp_path: Path, tiny_env: Path) -> None:
    project = project_of(tmp_path, tiny_env)
    _target, state = built(project)
    assert status(project, lock_of(project, fingerprint()), fingerprint(), state, force=True).reasons == ("forced",)
    assert status(project, None, fingerprint(), state, force=True).reasons == ("forced", "new target")


def test_a_target_not_in_the_lock_is_new(tmp_path: Path, tiny_env: Path) -> None:
    project = project_of(tmp_path, tiny_env)
    _target, state = built(project)
    assert status(project, None, fingerprint(), state).reasons == ("new target",)
    other = attrs.evolve(lock_of(project, fingerprint()), targets={})
    assert status(project, other, fingerprint(), state).reasons == ("new target",)


def test_changed_options_are_named_before_the_environment_is_looked_at(tmp_path: Path, tiny_env: Path) -> None:
    project = project_of(tmp_path, tiny_env)
    _target, state = built(project)
    previous = lock_of(project_of(tmp_path, tiny_env, 'exclude = ["share/"]\narcroot = "x"\n'), fingerprint())
    assert status(project, previous, fingerprint("1.4"), state).reasons == ("options changed (arcroot, exclude)",)


def test_a_changed_environment_names_what_changed_in_it(tmp_path: Path, tiny_env: Path) -> None:
    project = project_of(tmp_path, tiny_env)
    _target, state = built(project)
    previous = lock_of(project, fingerprint())
    assert status(project, previous, fingerprint("1.4", "33" * 32), state).reasons == (
        "packages changed: zlib 1.3 -> 1.4", "unmanaged files changed (2 -> 2 files)")


def test_a_changed_input_with_the_same_environment_is_named_as_such(tmp_path: Path, tiny_env: Path) -> None:
    project = project_of(tmp_path, tiny_env)
    _target, state = built(project)
    previous = lock_of(project, fingerprint())
    tar = attrs.evolve(previous.targets["tiny:tar"], input="99" * 32)
    previous = attrs.evolve(previous, targets={"tiny:tar": tar})
    assert status(project, previous, fingerprint(), state).reasons == ("inputs changed",)


@pytest.mark.parametrize("case, reason", [
    ("not built", "not built yet"),
    ("missing", "output missing"),
    ("modified", "output modified"),
    ("other condapack", "built by condapack 0.0.1"),
])
def test_an_output_the_lock_does_not_vouch_for_is_rebuilt(tmp_path: Path, tiny_env: Path, case: str,
                                                          reason: str) -> None:
    project = project_of(tmp_path, tiny_env)
    target, state = built(project, by="0.0.1" if case == "other condapack" else __version__)
    previous = lock_of(project, fingerprint(), None if case == "not built" else ARCHIVE)
    if case == "missing":
        target.output.unlink()
    if case == "modified":
        target.output.write_bytes(b"edited " + ARCHIVE)
    assert status(project, previous, fingerprint(), state) == TargetStatus(target, True, (reason,))


def test_an_output_without_its_requested_sbom_is_rebuilt(tmp_path: Path, tiny_env: Path) -> None:
    project = project_of(tmp_path, tiny_env, "sbom = true\n")
    target, state = built(project)
    previous = lock_of(project, fingerprint())
    assert status(project, previous, fingerprint(), state).reasons == ("SBOM missing",)
    target.output.with_name(target.output.name + ".cdx.json").write_text("{}")
    assert status(project, previous, fingerprint(), state).reasons == ("up to date",)


def test_a_recorded_digest_is_trusted_only_while_the_outputs_stat_is_unchanged(tmp_path: Path,
                                                                             tiny_env: Path) -> None:
    project = project_of(tmp_path, tiny_env)
    target, state = built(project)
    previous = lock_of(project, fingerprint())
    entry = state.outputs[target.name]
    state.outputs[target.name] = attrs.evolve(entry, sha256="00" * 32)
    assert status(project, previous, fingerprint(), state).reasons == ("output modified",)  # trusted
    state.outputs[target.name] = BuiltOutput((0, 0, 0, 0), "00" * 32, __version__)
    assert status(project, previous, fingerprint(), state).reasons == ("up to date",)  # re-hashed


def test_an_output_built_outside_this_checkouts_state_is_judged_by_its_digest(tmp_path: Path,
                                                                             tiny_env: Path) -> None:
    project = project_of(tmp_path, tiny_env)
    target, _state = built(project)
    previous = lock_of(project, fingerprint())
    assert status(project, previous, fingerprint(), BuildState(project)).reasons == ("up to date",)


def test_make_plan_reads_the_lock_on_disk_and_plans_the_selected_targets(tmp_path: Path, tiny_env: Path) -> None:
    project = project_of(tmp_path, tiny_env)
    first = make_plan(project)
    assert first.previous is None and [s.reasons for s in first.targets] == [("new target",)]
    project.lock_path.write_bytes(first.lock.to_json())
    again = make_plan(project, ["tiny:tar"])
    assert again.previous == first.lock == again.lock
    assert [(s.target.name, s.reasons) for s in again.to_build] == [("tiny:tar", ("not built yet",))]
