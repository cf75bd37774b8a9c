"""The ledger of a build (lock, state, SHA256SUMS): written twice per build, true when it stops."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable

import pytest

from condapack.cache import CacheSettings
from condapack.project.build import build
from condapack.project.commit import begin, commit, write_lock
from condapack.project.config import load_project
from condapack.project.lock import LockedOutput
from condapack.project.plan import make_plan
from condapack.project.state import BuildState

THREE = 'output-dir = "dist"\n[env.tiny]\nprefix = "{prefix}"\nformats = ["tar", "tar.gz", "zip"]\n'


@pytest.fixture
def config(tiny_env: Path, tmp_path: Path) -> Path:
    """A project of three targets of one tiny environment."""
    path = tmp_path / "proj" / "condapack.toml"
    path.parent.mkdir()
    path.write_text(THREE.format(prefix=tiny_env))
    return path


def count_writes(monkeypatch: pytest.MonkeyPatch, paths: list[Path]) -> dict[str, int]:
    """How many times each of ``paths`` is put in place (renamed or linked over) from now on."""
    counts = {p.name: 0 for p in paths}

    def counting(real: Callable[[str, str], None]) -> Callable[[str, str], None]:
        def call(src: str, dst: str) -> None:
            if Path(dst) in paths:
                counts[Path(dst).name] += 1
            real(src, dst)
        return call

    monkeypatch.setattr(os, "replace", counting(os.replace))
    monkeypatch.setattr(os, "link", counting(os.link))
    return counts


def ledger(config: Path) -> list[Path]:
    root = config.parent
    return [root / "condapack.lock", root / ".condapack" / "state.json", root / "dist" / "SHA256SUMS"]


@pytest.mark.parametrize("force", [False, True], ids=["first", "forced"])
def test_a_build_of_three_targets_writes_each_ledger_file_at_most_twice(config: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   force: bool) -> None:
    if force:
        build(load_project(config))
    counts = count_writes(monkeypatch, ledger(config))
    results = build(load_project(config), force=force)
    assert [r.status for r in results] == ["built"] * 3
    assert all(1 <= n <= 2 for n in counts.values()), counts


def test_a_no_op_build_writes_nothing_to_the_ledger(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build(load_project(config))
    counts = count_writes(monkeypatch, ledger(config))
    assert [r.status for r in build(load_project(config))] == ["up to date"] * 3
    assert counts == {"condapack.lock": 0, "state.json": 0, "SHA256SUMS": 0}


def test_a_build_stopped_by_an_error_puts_back_the_outputs_it_left_as_they_were(config: Path) -> None:
    build(load_project(config))
    before = {p.name: p.read_bytes() for p in ledger(config)}

    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build(load_project(config), force=True, progress=stop)
    assert {p.name: p.read_bytes() for p in ledger(config)} == before
    assert [r.status for r in build(load_project(config))] == ["up to date"] * 3


def test_a_build_stopped_midway_enters_what_it_made_and_puts_back_what_it_did_not_touch(config: Path) -> None:
    build(load_project(config))
    seen: list[int] = []

    def stop_in_the_second_pack(done: int, total: int) -> None:
        if seen and done <= seen[-1]:  # a new pack began
            raise KeyboardInterrupt
        seen.append(done)

    with pytest.raises(KeyboardInterrupt):
        build(load_project(config), force=True, progress=stop_in_the_second_pack)
    lock = json.loads((config.parent / "condapack.lock").read_text())
    assert all("sha256" in target for target in lock["targets"].values())
    sums = (config.parent / "dist" / "SHA256SUMS").read_text()
    assert sorted(line.split("  ")[1] for line in sums.splitlines()) == ["tiny.tar", "tiny.tar.gz", "tiny.zip"]
    assert [r.status for r in build(load_project(config))] == ["up to date"] * 3


def test_an_output_another_build_claimed_since_is_not_put_back(config: Path) -> None:
    """Two builds at once: the one that claimed a target last may be replacing it, so only it puts it back."""
    build(load_project(config))
    project = load_project(config)
    target = project.targets[0]

    def sha256s() -> dict[str, bool]:
        targets = json.loads((config.parent / "condapack.lock").read_text())["targets"]
        return {name: "sha256" in entry for name, entry in targets.items()}

    first_state, second_state = BuildState(project), BuildState(project)
    first_plan, second_plan = make_plan(project, state=first_state), make_plan(project, state=second_state)
    first = begin(first_plan, first_state, [target], locked=False)
    second = begin(second_plan, second_state, [target], locked=False)
    commit(first_plan, first_state, first, {}, False)  # stopped before making it
    assert sha256s()[target.name] is False
    commit(second_plan, second_state, second, {}, False)  # stopped too: the output is as it was
    assert all(sha256s().values())
    assert [r.status for r in build(load_project(config))] == ["up to date"] * 3


def sums_of(config: Path) -> dict[str, str]:
    """File name -> digest, as ``SHA256SUMS`` lists them."""
    path = config.parent / "dist" / "SHA256SUMS"
    lines = path.read_text().splitlines() if path.exists() else []
    return {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in lines}


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_build_committing_after_another_fetched_a_target_keeps_its_line_in_sums(config: Path,
                                                                                 tmp_path: Path) -> None:
    """``make -j`` in a fresh checkout: what is fetched for a lock without digests is known to the state only."""
    cache = tmp_path / "cache"
    cache.mkdir()
    other = tmp_path / "other" / "condapack.toml"
    other.parent.mkdir()
    other.write_text(config.read_text())
    build(load_project(other), cache=CacheSettings(url=cache.as_uri(), write=True))
    project = load_project(config)
    state = BuildState(project)
    plan = make_plan(project, ["tiny:tar"], state=state)
    claim = begin(plan, state, [project.targets[0]], locked=False)
    fetched = build(load_project(config), ["tiny:zip"], cache=CacheSettings(url=cache.as_uri()))
    assert [r.status for r in fetched] == ["fetched"]
    commit(plan, state, claim, {}, False)
    zip_output = config.parent / "dist" / "tiny.zip"
    assert sums_of(config) == {"tiny.zip": sha256_of(zip_output)}


def test_a_stopped_build_keeps_the_state_entry_of_the_build_that_claimed_its_target_since(config: Path) -> None:
    build(load_project(config))
    project = load_project(config)
    state = BuildState(project)
    plan = make_plan(project, state=state)
    claim = begin(plan, state, [project.targets[0]], locked=False)
    build(load_project(config), ["tiny:tar"], force=True)
    commit(plan, state, claim, {}, False)  # stopped before making it
    assert "tiny:tar" in BuildState(load_project(config)).outputs


def test_a_build_whose_output_another_build_replaced_since_does_not_enter_its_digest(config: Path) -> None:
    """Two builds of one target committing in the other order than they put their outputs in place."""
    build(load_project(config))
    project = load_project(config)
    target = project.targets[0]
    state = BuildState(project)
    plan = make_plan(project, state=state, force=True)
    claim = begin(plan, state, [target], locked=False)
    target.output.write_bytes(b"this build's bytes")
    digest = sha256_of(target.output)
    state.note(target.name, target.output, digest)
    build(load_project(config), ["tiny:tar"], force=True)  # the other build puts its output over this one's
    commit(plan, state, claim, {target.name: LockedOutput(digest, 18)}, False, [target.name])
    lock = json.loads((config.parent / "condapack.lock").read_text())
    assert lock["targets"]["tiny:tar"]["sha256"] == sha256_of(target.output) == sums_of(config)["tiny.tar"]


def test_condapack_lock_keeps_what_a_build_committed_after_it_planned(config: Path, tiny_env: Path,
                                                                       tmp_path: Path) -> None:
    env = tmp_path / "env"
    shutil.copytree(tiny_env, env)
    config.write_text(THREE.format(prefix=env))
    build(load_project(config))
    planned = make_plan(load_project(config))  # `condapack lock` plans with the environment as it was
    (env / "share" / "data.txt").write_text("changed\n")
    build(load_project(config))
    write_lock(planned)
    lock = json.loads((config.parent / "condapack.lock").read_text())
    assert lock["targets"]["tiny:tar"].get("sha256") in (None, sha256_of(config.parent / "dist" / "tiny.tar"))


def test_an_output_replaced_by_hand_is_not_listed_in_sums_with_its_old_digest(config: Path) -> None:
    build(load_project(config))
    (config.parent / "dist" / "tiny.zip").write_bytes(b"replaced by hand")
    build(load_project(config), ["tiny:tar"], force=True)
    assert sums_of(config).get("tiny.zip") in (None, hashlib.sha256(b"replaced by hand").hexdigest())


def test_a_digest_in_the_state_that_is_not_hex_never_reaches_sums(config: Path) -> None:
    build(load_project(config))
    lock_path, state_path = config.parent / "condapack.lock", config.parent / ".condapack" / "state.json"
    lock, state = json.loads(lock_path.read_text()), json.loads(state_path.read_text())
    state["outputs"]["tiny:zip"]["sha256"] = "0" * 64 + "  injected.txt\n" + "f" * 64
    state["outputs"]["tiny:zip"]["fetched_for"] = lock["targets"]["tiny:zip"]["input"]
    del lock["targets"]["tiny:zip"]["sha256"], lock["targets"]["tiny:zip"]["size"]
    state_path.write_text(json.dumps(state))
    lock_path.write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
    build(load_project(config), ["tiny:tar"], force=True)
    assert "injected" not in (config.parent / "dist" / "SHA256SUMS").read_text()


def test_the_directory_older_versions_kept_the_memos_in_is_removed_by_a_build_not_by_planning(
        config: Path) -> None:
    old = config.parent / ".condapack" / "statcache"
    old.mkdir(parents=True)
    (old / "env.json").write_text("{}")
    make_plan(load_project(config))
    assert old.exists()
    build(load_project(config))
    assert not old.exists()
