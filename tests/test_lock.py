"""The lock, unit by unit on a tiny hand-made prefix: what it records, its bytes, its checks."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from condapack.errors import ConfigError
from condapack.project.config import load_project
from condapack.project.fingerprint import EnvFingerprint, fingerprint_env
from condapack.project.lock import (
    LOCK_VERSION,
    Lock,
    LockedEnv,
    LockedFiles,
    LockedOutput,
    LockedSource,
    LockedTarget,
    describe_env_change,
    describe_lock_drift,
    read_lock,
    render_lock,
    target_options,
)
from condapack.records import PackageId


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
        "ignore-missing-files": False, "slim": "", "parcel": {"version": "1.0"}}
    assert target_options(project, tar)["compress-level"] is None  # the level never changes a tar's bytes
    assert "threads" not in target_options(project, parcel)


def test_lock_is_canonical_and_reads_back(tmp_path: Path, tiny_env: Path) -> None:
    project = load_project(project_of(tmp_path, tiny_env))
    envs = {"tiny": fingerprint_env(tiny_env)}
    lock = render_lock(project, envs, None, {"tiny:zip": LockedOutput("ab" * 32, 10)})
    data = lock.to_json()
    assert data == (json.dumps(json.loads(data), indent=2, sort_keys=True) + "\n").encode()
    assert lock.version == LOCK_VERSION and lock.targets["tiny:zip"].output == LockedOutput("ab" * 32, 10)
    assert lock.environments["tiny"].files.count == 2  # share/ and share/data.txt
    project.lock_path.write_bytes(data)
    assert read_lock(project.lock_path) == lock
    assert describe_lock_drift(lock, lock) == ["its contents differ from what condapack would write"]


def test_an_unchanged_input_carries_the_recorded_output_over(tmp_path: Path, tiny_env: Path) -> None:
    project = load_project(project_of(tmp_path, tiny_env))
    envs = {"tiny": fingerprint_env(tiny_env)}
    first = render_lock(project, envs, None, {"tiny:tar": LockedOutput("cd" * 32, 20)})
    assert render_lock(project, envs, first).targets["tiny:tar"].output == LockedOutput("cd" * 32, 20)
    (tiny_env / "share" / "data.txt").write_text("changed\n")
    changed = render_lock(project, {"tiny": fingerprint_env(tiny_env)}, first)
    assert changed.targets["tiny:tar"].output is None
    assert describe_env_change(first.environments["tiny"], changed.environments["tiny"]) == [
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


PACKAGE = {"build": "h0_0", "channel": "local", "name": "zlib", "sha256": "11" * 32, "version": "1.3"}
#: A lock as condapack writes it: one environment, a built target and one not built yet.
CANONICAL = """\
{
  "environments": {
    "tiny": {
      "files": {
        "count": 2,
        "sha256": "%s"
      },
      "packages": [
        {
          "build": "h0_0",
          "channel": "local",
          "name": "zlib",
          "sha256": "%s",
          "version": "1.3"
        }
      ],
      "source": {
        "prefix": "envs/tiny"
      }
    }
  },
  "targets": {
    "tiny:tar": {
      "input": "%s",
      "options": {
        "compress-level": null,
        "exclude": [
          "share/doc/"
        ],
        "format": "tar",
        "parcel": {}
      }
    },
    "tiny:zip": {
      "input": "%s",
      "options": {
        "compress-level": 4,
        "format": "zip",
        "zip-64": true
      },
      "sha256": "%s",
      "size": 10
    }
  },
  "version": 1
}
""" % ("22" * 32, "11" * 32, "33" * 32, "44" * 32, "55" * 32)


def canonical() -> Lock:
    return Lock.from_json(CANONICAL.encode(), "condapack.lock")


def test_a_lock_reads_into_records_and_writes_back_the_same_bytes() -> None:
    lock = canonical()
    assert lock.to_json() == CANONICAL.encode()
    env = lock.environments["tiny"]
    assert (env.source, env.files) == (LockedSource("prefix", "envs/tiny"), LockedFiles(2, "22" * 32))
    assert env.packages == (PackageId(**PACKAGE),)
    assert lock.targets["tiny:tar"] == LockedTarget(
        {"compress-level": None, "exclude": ["share/doc/"], "format": "tar", "parcel": {}}, "33" * 32)
    assert lock.targets["tiny:zip"].output == LockedOutput("55" * 32, 10)


def test_records_write_the_canonical_bytes() -> None:
    env = LockedEnv(LockedSource("prefix", "envs/tiny"), (PackageId(**PACKAGE),), LockedFiles(2, "22" * 32))
    targets = {"tiny:zip": LockedTarget({"format": "zip", "compress-level": 4, "zip-64": True}, "44" * 32,
                                        LockedOutput("55" * 32, 10)),
               "tiny:tar": LockedTarget({"format": "tar", "exclude": ["share/doc/"], "compress-level": None,
                                         "parcel": {}}, "33" * 32)}
    assert Lock({"tiny": env}, targets).to_json() == CANONICAL.encode()


def test_an_environment_by_conda_name_round_trips() -> None:
    text = CANONICAL.replace('"prefix": "envs/tiny"', '"name": "tiny-env"')
    lock = Lock.from_json(text.encode(), "condapack.lock")
    assert lock.environments["tiny"].source == LockedSource("name", "tiny-env")
    assert lock.to_json() == text.encode()


@pytest.mark.parametrize("doc", [
    {"version": 1, "environments": {}, "targets": {}},
    {"version": 1, "environments": {}, "targets": {"a:tar": {"options": {"x": [1, 2.5, None, {"y": "z"}]},
                                                             "input": ""}}},
    json.loads(CANONICAL),
])
def test_every_lock_that_reads_writes_back_its_own_canonical_bytes(doc: object) -> None:
    data = json.dumps(doc).encode()  # not canonical: one line
    assert Lock.from_json(data, "condapack.lock").to_json() == (json.dumps(doc, indent=2, sort_keys=True)
                                                                + "\n").encode()


def damaged(path: str, value: object) -> str:
    """CANONICAL with the value at ``path`` (keys joined by ``/``) replaced, or removed when ``value`` is DROP."""
    doc = json.loads(CANONICAL)
    *parents, last = path.split("/")
    node = doc
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    index = int(last) if isinstance(node, list) else last
    if value is DROP:
        del node[index]
    else:
        node[index] = value
    return json.dumps(doc)


DROP = object()
ENV = "environments/tiny"
PACKAGE_PATH = f"{ENV}/packages/0"
TAR, ZIP = "targets/tiny:tar", "targets/tiny:zip"


@pytest.mark.parametrize("path, value, problem", [
    ("version", True, "lock format version True is not 1"),
    ("version", 1.0, "lock format version 1.0 is not 1"),
    ("version", DROP, "lock format version None is not 1"),
    ("environments", [], "not a valid lock file (environments and targets must be objects)"),
    ("extra", {}, "not a valid lock file (unknown key 'extra')"),
    (f"{ENV}/files", DROP, "not a valid lock file (environment 'tiny' is malformed)"),
    (f"{ENV}/files/count", True, "not a valid lock file (environment 'tiny' is malformed)"),
    (f"{ENV}/files/sha256", None, "not a valid lock file (environment 'tiny' is malformed)"),
    (f"{ENV}/source", {"prefix": "a", "name": "b"}, "not a valid lock file (environment 'tiny' is malformed)"),
    (f"{ENV}/source", {"path": "a"}, "not a valid lock file (environment 'tiny' is malformed)"),
    (f"{ENV}/source/prefix", 3, "not a valid lock file (environment 'tiny' is malformed)"),
    (f"{ENV}/packages", {}, "not a valid lock file (environment 'tiny' is malformed)"),
    (f"{ENV}/packages/0", "zlib", "not a valid lock file (environment 'tiny' is malformed)"),
    (f"{PACKAGE_PATH}/build", DROP, "not a valid lock file (environment 'tiny' is malformed)"),
    (f"{PACKAGE_PATH}/version", 1.3, "not a valid lock file (environment 'tiny' is malformed)"),
    (f"{PACKAGE_PATH}/license", "MIT", "not a valid lock file (environment 'tiny' is malformed)"),
    (f"{ENV}/extra", 1, "not a valid lock file (environment 'tiny' is malformed)"),
    (f"{TAR}/options", [], "not a valid lock file (target 'tiny:tar' is malformed)"),
    (f"{TAR}/input", DROP, "not a valid lock file (target 'tiny:tar' is malformed)"),
    (f"{TAR}/sha256", "55" * 32, "not a valid lock file (target 'tiny:tar' is malformed)"),
    (f"{ZIP}/size", DROP, "not a valid lock file (target 'tiny:zip' is malformed)"),
    (f"{ZIP}/size", 10.0, "not a valid lock file (target 'tiny:zip' is malformed)"),
    (f"{ZIP}/sha256", None, "not a valid lock file (target 'tiny:zip' is malformed)"),
    (f"{ZIP}/built", True, "not a valid lock file (target 'tiny:zip' is malformed)"),
])
def test_each_malformed_part_of_a_lock_is_a_one_line_error(path: str, value: object, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        Lock.from_json(damaged(path, value).encode(), "condapack.lock")
    assert str(info.value) == f"condapack.lock: {problem}; delete it and run condapack lock"


@pytest.mark.parametrize("data, detail", [
    (b"{", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    (b"\xff", "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
])
def test_a_lock_that_is_not_json_is_a_one_line_error(data: bytes, detail: str) -> None:
    with pytest.raises(ConfigError) as info:
        Lock.from_json(data, "condapack.lock")
    assert str(info.value) == f"condapack.lock: not a valid lock file ({detail}); delete it and run condapack lock"


def test_an_unreadable_lock_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "condapack.lock").mkdir()
    with pytest.raises(ConfigError) as info:
        read_lock(tmp_path / "condapack.lock")
    assert str(info.value) == ("condapack.lock: not a valid lock file (is a directory, not a regular file); "
                               "delete it and run condapack lock")


def test_forgetting_an_output_keeps_the_rest_of_the_lock() -> None:
    lock = canonical()
    forgotten = lock.without_output("tiny:zip")
    assert forgotten.targets["tiny:zip"] == attrs.evolve(lock.targets["tiny:zip"], output=None)
    assert (forgotten.environments, forgotten.targets["tiny:tar"]) == (lock.environments, lock.targets["tiny:tar"])
    assert lock.without_output("tiny:none") == lock


def fingerprint(*packages: dict[str, str], files: int = 2) -> EnvFingerprint:
    return EnvFingerprint(tuple(PackageId(**p) for p in packages), files, f"{files:064x}")


def test_render_lock_records_packages_source_and_built_outputs(tmp_path: Path, tiny_env: Path) -> None:
    project = load_project(project_of(tmp_path, tiny_env))
    lock = render_lock(project, {"tiny": fingerprint(PACKAGE)}, None, {"tiny:zip": LockedOutput("55" * 32, 10)})
    assert lock.environments["tiny"] == LockedEnv(LockedSource("prefix", "tiny"), (PackageId(**PACKAGE),),
                                                  LockedFiles(2, f"{2:064x}"))
    assert [name for name, t in lock.targets.items() if t.output is not None] == ["tiny:zip"]
    assert list(lock.targets) == ["tiny:tar", "tiny:zip", "tiny:parcel"]  # the project's order


def test_a_built_output_replaces_the_recorded_one(tmp_path: Path, tiny_env: Path) -> None:
    project = load_project(project_of(tmp_path, tiny_env))
    envs = {"tiny": fingerprint(PACKAGE)}
    first = render_lock(project, envs, None, {"tiny:zip": LockedOutput("55" * 32, 10)})
    second = render_lock(project, envs, first, {"tiny:zip": LockedOutput("66" * 32, 11)})
    assert second.targets["tiny:zip"].output == LockedOutput("66" * 32, 11)


def env_of(*packages: dict[str, str], files: int = 2, source: str = "envs/tiny") -> LockedEnv:
    return LockedEnv(LockedSource("prefix", source), tuple(PackageId(**p) for p in packages),
                     LockedFiles(files, f"{files:064x}"))


def test_describe_env_change_names_each_package_and_file_change() -> None:
    old = env_of(PACKAGE, {**PACKAGE, "name": "xz", "version": "5.4"}, {**PACKAGE, "name": "bzip2"})
    new = env_of({**PACKAGE, "sha256": "77" * 32}, {**PACKAGE, "name": "xz", "version": "5.6"},
                 {**PACKAGE, "name": "curl", "version": "8.0"}, files=3, source="envs/other")
    assert describe_env_change(old, new) == [
        "packages added: curl 8.0", "packages removed: bzip2 1.3",
        "packages changed: xz 5.4 -> 5.6, zlib 1.3 (rebuilt)",
        "unmanaged files changed (2 -> 3 files)", "source changed"]
    assert describe_env_change(None, new) == ["new environment"]
    assert describe_env_change(new, new) == []


def test_describe_lock_drift_names_what_differs_from_the_lock_on_disk() -> None:
    old = canonical()
    zip_ = old.targets["tiny:zip"]
    new = Lock({"tiny": env_of(PACKAGE, files=3), "more": env_of(PACKAGE)},
               {"tiny:zip": attrs.evolve(zip_, options={**zip_.options, "compress-level": 5, "arcroot": "x"}),
                "more:tar": old.targets["tiny:tar"]})
    assert describe_lock_drift(old, new) == [
        "env tiny: unmanaged files changed (2 -> 3 files)", "env more: new environment",
        "target tiny:zip: options changed (arcroot, compress-level)", "target more:tar: new",
        "target tiny:tar: removed from the project"]
    assert describe_lock_drift(None, new) == ["there is no lock"]


def test_lock_drift_names_changed_inputs_once_per_cause() -> None:
    old = canonical()
    inputs = {name: attrs.evolve(t, input="99" * 32) for name, t in old.targets.items()}
    assert describe_lock_drift(old, attrs.evolve(old, targets=inputs)) == [
        "target tiny:tar: inputs changed", "target tiny:zip: inputs changed"]
    moved = {"tiny": attrs.evolve(old.environments["tiny"], source=LockedSource("name", "tiny"))}
    assert describe_lock_drift(old, attrs.evolve(old, environments=moved, targets=inputs)) == [
        "env tiny: source changed"]  # the environment's line says why its targets' inputs changed
    assert describe_lock_drift(old, attrs.evolve(old, environments={})) == ["env tiny: removed from the project"]
