"""The local build state: what it records per output, its bytes, and what it drops when damaged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from condapack._version import __version__
from condapack.project.config import Project, load_project
from condapack.project.state import BuildState, BuiltOutput


def project_of(tmp_path: Path, tiny_env: Path) -> Project:
    path = tmp_path / "condapack.toml"
    path.write_text(f'[env.tiny]\nprefix = "{tiny_env}"\nformats = ["tar", "zip"]\n')
    return load_project(path)


def test_a_recorded_output_is_saved_with_its_stat_digest_and_condapack(tmp_path: Path, tiny_env: Path) -> None:
    project = project_of(tmp_path, tiny_env)
    output = tmp_path / "out.tar"
    output.write_bytes(b"x")
    state = BuildState(project)
    state.note("tiny:tar", output, "ab" * 32)
    state.save()
    st = output.stat()
    stat = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    assert state.path.read_bytes() == json.dumps(
        {"version": 1, "outputs": {"tiny:tar": {"stat": list(stat), "sha256": "ab" * 32, "condapack": __version__}}},
        indent=1, sort_keys=True).encode()
    assert BuildState(project).outputs == {"tiny:tar": BuiltOutput(stat, "ab" * 32, __version__)}
    assert BuildState(project).built_by("tiny:tar") == __version__ and state.built_by("tiny:zip") is None


def two_builds(tmp_path: Path, tiny_env: Path) -> tuple[Project, Path, BuildState, BuildState]:
    """A project, an output, and the states of two of its builds loaded before either saved."""
    output = tmp_path / "out"
    output.write_bytes(b"x")
    project = project_of(tmp_path, tiny_env)
    return project, output, BuildState(project), BuildState(project)


def test_saving_keeps_what_another_build_recorded_meanwhile(tmp_path: Path, tiny_env: Path) -> None:
    project, output, mine, theirs = two_builds(tmp_path, tiny_env)
    for state, name in ((theirs, "tiny:zip"), (mine, "tiny:tar")):  # they save in turn
        state.note(name, output, "ab" * 32)
        state.save()
    assert sorted(BuildState(project).outputs) == ["tiny:tar", "tiny:zip"]


def test_a_second_save_writes_only_what_was_noted_since_the_first(tmp_path: Path, tiny_env: Path) -> None:
    project, output, mine, theirs = two_builds(tmp_path, tiny_env)
    mine.note("tiny:tar", output, "ab" * 32)
    mine.save()
    theirs.note("tiny:tar", output, "cd" * 32)
    theirs.save()
    mine.note_push("registry.example/tiny:1", "sha256:" + "ef" * 32)
    mine.save()
    assert BuildState(project).outputs["tiny:tar"].sha256 == "cd" * 32


GOOD = {"stat": [1, 2, 3, 4], "sha256": "ab" * 32, "condapack": "1.0"}


@pytest.mark.parametrize("entry", [
    [1], {**GOOD, "stat": [1, 2, 3]}, {**GOOD, "stat": [1, 2, 3, True]}, {**GOOD, "stat": "1 2 3 4"},
    {**GOOD, "sha256": None}, {**GOOD, "sha256": "AB" * 32}, {**GOOD, "sha256": "ab" * 31},
    {**GOOD, "sha256": "0" * 64 + "  injected\n" + "f" * 64},
    {k: v for k, v in GOOD.items() if k != "condapack"}, {**GOOD, "extra": 1},
])
def test_a_damaged_entry_is_dropped_and_the_others_kept(tmp_path: Path, tiny_env: Path, entry: object) -> None:
    project = project_of(tmp_path, tiny_env)
    state_file = project.state_dir / "state.json"
    state_file.parent.mkdir(parents=True)
    state_file.write_text(json.dumps({"version": 1, "outputs": {"tiny:tar": entry, "tiny:zip": GOOD}}))
    assert BuildState(project).outputs == {"tiny:zip": BuiltOutput((1, 2, 3, 4), "ab" * 32, "1.0")}


@pytest.mark.parametrize("text", ["", "[]", '{"outputs": []}', "{" * 100_000])
def test_a_damaged_state_file_is_an_empty_state(tmp_path: Path, tiny_env: Path, text: str) -> None:
    project = project_of(tmp_path, tiny_env)
    state_file = project.state_dir / "state.json"
    state_file.parent.mkdir(parents=True)
    state_file.write_text(text)
    assert BuildState(project).outputs == {}


def test_claims_on_names_that_are_not_targets_are_dropped_when_the_state_is_saved(tmp_path: Path,
                                                                                   tiny_env: Path) -> None:
    project = project_of(tmp_path, tiny_env)
    state_file = project.state_dir / "state.json"
    state_file.parent.mkdir(parents=True)
    ghosts = {f"ghost{i}:tar": "ab" * 32 for i in range(3)}
    state_file.write_text(json.dumps({"version": 1, "outputs": {}, "building": {**ghosts, "tiny:zip": "cd" * 32}}))
    BuildState(project).save()
    assert json.loads(state_file.read_text())["building"] == {"tiny:zip": "cd" * 32}
