"""The lock, unit by unit on a tiny hand-made prefix: what it records, its bytes, its checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from condapack.errors import ConfigError
from condapack.project.config import load_project
from condapack.project.fingerprint import fingerprint_env
from condapack.project.lock import (
    LOCK_VERSION,
    describe_env_change,
    describe_lock_drift,
    dump_lock,
    read_lock,
    render_lock,
    target_options,
)


def project_of(tmp_path: Path, tiny_env: Path, extra: str = "") -> Path:
    path = tmp_path / "condapack.toml"
    path.write_text(f'[env.tiny]\nprefix = "{tiny_env}"\nformats = ["tar", "zip", "parcel"]\n'
                    f'parcel = {{version = "1.0"}}\n{extra}')
    return path


def test_target_options_record_the_byte_changing_settings_under_their_toml_keys(tmp_path: Path,
                                                                                tiny_env: Path) -> None:
    project = load_project(project_of(tmp_path, tiny_env, "compress-level = 7\nthreads = 3\n"))
    tar, zip_, parcel = project.targets
    assert target_options(project, zip_) == {
        "format": "zip", "output": "dist/tiny.zip", "arcroot": "", "dest-prefix": None, "compress-level": 7,
        "exclude": [], "zip-symlinks": False, "zip-64": True, "ignore-editable-packages": False,
        "ignore-missing-files": False, "parcel": {"version": "1.0"}}
    assert target_options(project, tar)["compress-level"] is None  # the level never changes a tar's bytes
    assert "threads" not in target_options(project, parcel)


def test_lock_is_canonical_and_reads_back(tmp_path: Path, tiny_env: Path) -> None:
    project = load_project(project_of(tmp_path, tiny_env))
    envs = {"tiny": fingerprint_env(tiny_env)}
    lock = render_lock(project, envs, None, {"tiny:zip": ("ab" * 32, 10)})
    data = dump_lock(lock)
    assert data == (json.dumps(lock, indent=2, sort_keys=True) + "\n").encode()
    assert lock["version"] == LOCK_VERSION and lock["targets"]["tiny:zip"]["size"] == 10
    assert lock["environments"]["tiny"]["files"]["count"] == 2  # share/ and share/data.txt
    project.lock_path.write_bytes(data)
    assert read_lock(project.lock_path) == lock
    assert describe_lock_drift(lock, lock) == ["its contents differ from what condapack would write"]


def test_an_unchanged_input_carries_the_recorded_output_over(tmp_path: Path, tiny_env: Path) -> None:
    project = load_project(project_of(tmp_path, tiny_env))
    envs = {"tiny": fingerprint_env(tiny_env)}
    first = render_lock(project, envs, None, {"tiny:tar": ("cd" * 32, 20)})
    assert render_lock(project, envs, first)["targets"]["tiny:tar"]["sha256"] == "cd" * 32
    (tiny_env / "share" / "data.txt").write_text("changed\n")
    changed = render_lock(project, {"tiny": fingerprint_env(tiny_env)}, first)
    assert "sha256" not in changed["targets"]["tiny:tar"]
    assert describe_env_change(first["environments"]["tiny"], changed["environments"]["tiny"]) == [
        "unmanaged files changed (2 -> 2 files)"]


@pytest.mark.parametrize("text, problem", [
    ('{"version": 2}', "lock format version 2 is not 1; delete it and run condapack lock"),
    ("[1]", "lock format version '?' is not 1; delete it and run condapack lock"),
    ('{"version": 1, "targets": []}', "not a valid lock file (environments and targets must be objects); "
                                      "delete it and run condapack lock"),
    ('{"version": 1, "targets": {"a:tar": {"input": 3}}}', "not a valid lock file (target 'a:tar' is malformed); "
                                                          "delete it and run condapack lock"),
])
def test_a_damaged_lock_is_a_one_line_error(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "condapack.lock"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        read_lock(path)
    assert str(info.value) == f"condapack.lock: {problem}"


def test_no_lock_is_none(tmp_path: Path) -> None:
    assert read_lock(tmp_path / "condapack.lock") is None
