"""The project layer on real environments: lock, plan, incremental build, make helpers.

After each kind of change exactly the affected targets rebuild and the others are
skipped; the lock is canonical and location-independent; --locked is a CI gate.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import envkit
from condapack.cli import main
from condapack.project.build import build
from condapack.project.config import load_project
from condapack.project.plan import make_plan
from condapack.project.produce import target_env
from envkit import EnvFactory

PROJECT = """\
output-dir = "dist"
[defaults]
formats = ["tar"]
[env.a]
prefix = "{a}"
formats = ["tar", "tar.gz"]
[env.b]
prefix = "{b}"
"""


def write_project(root: Path, a: Path, b: Path) -> Path:
    """The project file under ``root`` naming envs ``a`` and ``b`` by relative paths."""
    root.mkdir()
    (root / "condapack.toml").write_text(PROJECT.format(a=os.path.relpath(a, root), b=os.path.relpath(b, root)))
    return root / "condapack.toml"


@pytest.fixture(scope="module")
def shared_envs(shared_env: EnvFactory) -> tuple[Path, Path]:
    """The run's shared basic and nopython envs: these tests never change an environment."""
    return shared_env("basic"), shared_env("nopython")


@pytest.fixture
def project(shared_envs: tuple[Path, Path], tmp_path: Path) -> Path:
    """A project with env a (basic: a:tar, a:tar.gz) and env b (nopython: b:tar).

    The environments are shared: tests that change one use ``own_project``.
    """
    return write_project(tmp_path / "proj", *shared_envs)


@pytest.fixture
def own_project(real_env: EnvFactory, tmp_path: Path) -> Path:
    """Like ``project``, with environments of its own that the test may change."""
    return write_project(tmp_path / "proj", real_env("basic"), real_env("nopython"))


def built(config: Path, *names: str, force: bool = False, locked: bool = False) -> list[str]:
    """Build and return the names of the targets that were (re)built."""
    return [r.target.name for r in build(load_project(config), names, force=force, locked=locked) if r.made]


def env_of(config: Path, key: str) -> Path:
    spec = load_project(config).env(key)
    assert spec.prefix is not None
    return spec.prefix


def cli(config: Path, *argv: str, **env: str) -> tuple[int, str, str]:
    """Run ``condapack ARGV -c CONFIG`` in a subprocess (like make would), with ``env`` added."""
    return condapack([argv[0], "-c", str(config), *argv[1:]], config.parent, **env)


def condapack(argv: list[str], cwd: Path, **env: str) -> tuple[int, str, str]:
    """Run ``condapack ARGV`` in ``cwd`` with no CONDAPACK_* variables but ``env``."""
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith("CONDAPACK_")}
    proc = subprocess.run([sys.executable, "-m", "condapack", *argv], capture_output=True, text=True, cwd=cwd,
                          env={**clean, **env})
    return proc.returncode, proc.stdout, proc.stderr


def test_first_build_builds_everything_and_second_builds_nothing(project: Path) -> None:
    assert built(project) == ["a:tar", "a:tar.gz", "b:tar"]
    lock_before = (project.parent / "condapack.lock").stat().st_mtime_ns
    assert built(project) == []
    assert (project.parent / "condapack.lock").stat().st_mtime_ns == lock_before
    sums = (project.parent / "dist" / "SHA256SUMS").read_text().splitlines()
    assert [line.split("  ")[1] for line in sums] == ["a.tar", "a.tar.gz", "b.tar"]
    subprocess.run(["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=project.parent / "dist", check=True)


def test_unmanaged_file_edited_with_same_size_and_mtime_rebuilds_its_env_only(own_project: Path) -> None:
    built(own_project)
    history = env_of(own_project, "a") / "share" / "notes.txt"
    history.write_text("version one\n")
    assert built(own_project) == ["a:tar", "a:tar.gz"]
    st = history.stat()
    history.write_text("version two\n")  # same size
    os.utime(history, ns=(st.st_atime_ns, st.st_mtime_ns))  # and same mtime
    assert built(own_project) == ["a:tar", "a:tar.gz"]


def test_deleted_file_rebuilds_its_env_only(own_project: Path) -> None:
    (env_of(own_project, "b") / "share" / "extra.txt").write_text("x\n")
    built(own_project)
    (env_of(own_project, "b") / "share" / "extra.txt").unlink()
    assert built(own_project) == ["b:tar"]


def test_package_removed_then_installed_rebuilds_its_env_only(own_project: Path, real_env: EnvFactory) -> None:
    built(own_project)
    a = env_of(own_project, "a")
    record = next((a / "conda-meta").glob("cpdemo-py-*.json"))
    saved = {f: (a / f).read_bytes() for f in json.loads(record.read_bytes())["files"] if (a / f).is_file()}
    saved_record = record.read_bytes()
    for rel in saved:  # what `conda remove cpdemo-py` does
        (a / rel).unlink()
    record.unlink()
    code, out, _ = cli(own_project, "plan")
    assert code == 0
    assert "a:tar     build       packages removed: cpdemo-py 1.0" in out
    assert "b:tar     up to date" in out
    assert built(own_project) == ["a:tar", "a:tar.gz"]
    for rel, data in saved.items():  # and installing it again
        (a / rel).parent.mkdir(parents=True, exist_ok=True)
        (a / rel).write_bytes(data)
    record.write_bytes(saved_record)
    assert built(own_project) == ["a:tar", "a:tar.gz"]


def test_option_change_rebuilds_only_that_target(project: Path) -> None:
    built(project)
    text = project.read_text().replace('formats = ["tar", "tar.gz"]', 'formats = ["tar", "tar.gz"]\ncompress-level = 6')
    project.write_text(text)
    assert built(project) == ["a:tar.gz"]


def test_pattern_change_rebuilds_only_the_targets_it_applies_to(project: Path) -> None:
    built(project)
    project.write_text(project.read_text().replace("[env.b]\n", '[env.b]\nexclude = ["share/cpdemo-1.0/"]\n'))
    code, out, _ = cli(project, "plan", "--exit-code")
    assert code == 2
    assert "b:tar     build       options changed (exclude)" in out
    assert built(project) == ["b:tar"]
    names = subprocess.run(["tar", "-tf", str(project.parent / "dist" / "b.tar")], capture_output=True,
                           text=True, check=True).stdout.split()
    assert envkit.DATA_FILE not in names


def test_output_deleted_or_modified_by_hand_is_rebuilt(project: Path) -> None:
    built(project)
    dist = project.parent / "dist"
    (dist / "a.tar").unlink()
    assert built(project) == ["a:tar"]
    original = (dist / "b.tar").read_bytes()
    (dist / "b.tar").write_bytes(original[:-1] + b"x")
    code, out, _ = cli(project, "plan")
    assert "b:tar     build       output modified" in out
    assert built(project) == ["b:tar"]
    assert (dist / "b.tar").read_bytes() == original


def test_force_rebuilds_everything_selected(project: Path) -> None:
    built(project)
    assert built(project, "a", force=True) == ["a:tar", "a:tar.gz"]


def test_lock_is_canonical_and_not_rewritten_when_unchanged(project: Path) -> None:
    assert cli(project, "lock")[0] == 0
    lock = project.parent / "condapack.lock"
    first, mtime = lock.read_bytes(), lock.stat().st_mtime_ns
    code, _, err = cli(project, "lock")
    assert (code, err) == (0, "unchanged: condapack.lock\n")
    assert lock.read_bytes() == first and lock.stat().st_mtime_ns == mtime
    doc = json.loads(first)
    assert doc["version"] == 1
    assert first == (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
    assert str(project.parent.parent) not in first.decode()


def test_same_environments_elsewhere_give_the_same_lock(project: Path, tmp_path: Path) -> None:
    channel = envkit.build_channel()
    config = tmp_path / "elsewhere" / "deeper" / "proj" / "condapack.toml"
    for key, scenario in (("a", "basic"), ("b", "nopython")):
        rel = os.path.relpath(env_of(project, key), project.parent)
        envkit.create_env(scenario, (config.parent / rel).resolve(), channel)
    config.parent.mkdir(parents=True)
    config.write_text(project.read_text())
    assert cli(project, "lock")[0] == 0
    assert cli(config, "lock")[0] == 0
    assert (project.parent / "condapack.lock").read_bytes() == (config.parent / "condapack.lock").read_bytes()


def test_locked_fails_without_a_lock_and_writes_nothing(project: Path) -> None:
    code, _, err = cli(project, "build", "--locked")
    assert code == 1
    assert err == ("condapack: error: condapack.lock is missing and --locked forbids creating it; "
                   "run condapack lock and commit the lock file\n")
    assert not (project.parent / "condapack.lock").exists()
    assert not (project.parent / "dist").exists()


def test_locked_says_what_differs(own_project: Path) -> None:
    assert cli(own_project, "lock")[0] == 0
    a = env_of(own_project, "a")
    record = next((a / "conda-meta").glob("cpdemo-py-*.json"))
    record.unlink()
    (a / "share" / "new.txt").write_text("new\n")
    before = (own_project.parent / "condapack.lock").read_bytes()
    code, _, err = cli(own_project, "lock", "--locked")
    assert code == 1
    assert err == ("condapack: error: condapack.lock does not match the project and environments "
                   "(env a: packages removed: cpdemo-py 1.0; env a: unmanaged files changed (1 -> 12 files)); "
                   "run condapack lock to update it\n")
    assert (own_project.parent / "condapack.lock").read_bytes() == before


def test_locked_build_passes_on_an_unchanged_environment(project: Path) -> None:
    built(project)
    shutil.rmtree(project.parent / "dist")
    code, _, err = cli(project, "build", "--locked")
    assert code == 0, err
    assert "3 built, 0 up to date" in err


def test_outputs_and_deps_for_make(project: Path) -> None:
    code, out, _ = cli(project, "outputs")
    assert out.splitlines() == ["dist/a.tar", "dist/a.tar.gz", "dist/b.tar"]
    code, out, _ = cli(project, "outputs", "b")
    assert out == "dist/b.tar\n"
    code, out, err = cli(project, "deps", "b:tar")
    assert code == 0, err
    head, _, rest = out.partition("\n")
    assert head == "dist/b.tar: \\"
    b = env_of(project, "b")
    assert f"  {b / 'conda-meta'} \\" in rest.splitlines()
    assert "condapack.toml:" in rest.splitlines()
    code, _, err = cli(project, "deps", "a")
    assert code == 1
    assert err == ("condapack: error: deps takes one target, and 'a' names 2 (a:tar, a:tar.gz); "
                   "name one as ENV:FORMAT\n")


def test_unknown_target_suggests_a_name(project: Path) -> None:
    code, _, err = cli(project, "plan", "a:tar.g")
    assert code == 1
    assert err == "condapack: error: condapack.toml: no target 'a:tar.g' (did you mean 'a:tar.gz'?)\n"
    code, out, _ = cli(project, "plan", "a:tgz")
    assert (code, out.split()[0]) == (0, "a:tar.gz")


def test_plan_json_and_exit_code(project: Path) -> None:
    code, out, _ = cli(project, "plan", "--json", "--exit-code")
    assert code == 2
    doc = json.loads(out)
    assert [(t["target"], t["status"], t["reasons"]) for t in doc["targets"]] == [
        ("a:tar", "build", ["new target"]), ("a:tar.gz", "build", ["new target"]),
        ("b:tar", "build", ["new target"])]
    built(project)
    code, out, _ = cli(project, "plan", "--exit-code")
    assert code == 0


def test_missing_environment_names_the_env_key(own_project: Path) -> None:
    shutil.rmtree(env_of(own_project, "b"))
    code, _, err = cli(own_project, "plan")
    assert code == 1
    assert err == (f"condapack: error: condapack.toml: env.b: Environment path '{env_of(own_project, 'b')}' "
                   "doesn't exist; pass the path of an existing conda environment\n")


def test_plan_changes_nothing(project: Path) -> None:
    before = sorted(p.name for p in project.parent.iterdir())
    assert cli(project, "plan")[0] == 0
    assert sorted(p.name for p in project.parent.iterdir()) == before


def test_condapack_main_runs_in_process(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["outputs", "-c", str(project)]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("dist/a.tar")


def test_build_json_reports_each_target_built_then_up_to_date(project: Path) -> None:
    code, out, err = cli(project, "build", "--json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert sorted(doc) == ["built", "fetched", "seconds", "targets", "up_to_date"]
    assert (doc["built"], doc["up_to_date"]) == (3, 0)
    dist = project.parent / "dist"
    for target in doc["targets"]:
        assert sorted(target) == ["output", "reasons", "seconds", "sha256", "size", "status", "target",
                                  "uploaded"]
        archive = project.parent / target["output"]
        assert (target["status"], target["reasons"]) == ("built", ["new target"])
        assert (target["sha256"], target["size"]) == (hashlib.sha256(archive.read_bytes()).hexdigest(),
                                                      archive.stat().st_size)
    assert [t["output"] for t in doc["targets"]] == ["dist/a.tar", "dist/a.tar.gz", "dist/b.tar"]
    first = {t["target"]: t["sha256"] for t in doc["targets"]}
    code, out, _ = cli(project, "build", "--json")
    again = json.loads(out)
    assert (again["built"], again["up_to_date"]) == (0, 3)
    assert [(t["status"], t["sha256"], t["seconds"], t["reasons"]) for t in again["targets"]] == [
        ("up to date", first[name], 0.0, []) for name in ("a:tar", "a:tar.gz", "b:tar")]
    assert (dist / "SHA256SUMS").is_file()


def test_lock_json_says_what_happened_to_the_lock(project: Path) -> None:
    code, out, err = cli(project, "lock", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == {"lock": "condapack.lock", "status": "wrote", "environments": ["a", "b"],
                               "targets": ["a:tar", "a:tar.gz", "b:tar"]}
    assert json.loads(cli(project, "lock", "--json", "a")[1])["status"] == "unchanged"
    locked = json.loads(cli(project, "lock", "--json", "--locked", "b")[1])
    assert (locked["status"], locked["targets"]) == ("up to date", ["b:tar"])


def test_outputs_json_names_target_env_format_and_path(project: Path) -> None:
    code, out, _ = cli(project, "outputs", "--json", "a")
    assert code == 0
    assert json.loads(out) == {"targets": [
        {"target": "a:tar", "env": "a", "format": "tar", "output": "dist/a.tar"},
        {"target": "a:tar.gz", "env": "a", "format": "tar.gz", "output": "dist/a.tar.gz"}]}


def test_condapack_config_names_the_project_file(project: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, out, err = condapack(["outputs"], elsewhere, CONDAPACK_CONFIG=str(project))
    assert (code, err) == (0, "")
    assert out.splitlines() == [str(project.parent / "dist" / n) for n in ("a.tar", "a.tar.gz", "b.tar")]
    code, _, err = condapack(["outputs", "-c", str(tmp_path / "none.toml")], elsewhere,
                             CONDAPACK_CONFIG=str(project))
    assert (code, err.startswith("condapack: error: ")) == (1, True)


def test_condapack_locked_acts_like_locked_and_writes_nothing(project: Path) -> None:
    code, out, err = cli(project, "build", CONDAPACK_LOCKED="1")
    assert (code, out) == (1, "")
    assert err == ("condapack: error: condapack.lock is missing and --locked forbids creating it; "
                   "run condapack lock and commit the lock file\n")
    assert not (project.parent / "condapack.lock").exists() and not (project.parent / "dist").exists()
    assert cli(project, "lock", CONDAPACK_LOCKED="0")[0] == 0
    assert cli(project, "build", "a:tar", CONDAPACK_LOCKED="true")[0] == 0


def test_json_errors_of_project_commands_are_json_on_stderr(project: Path) -> None:
    code, out, err = cli(project, "build", "--json", CONDAPACK_LOCKED="yes")
    assert (code, out) == (1, "")
    assert json.loads(err) == {"error": "condapack.lock is missing and --locked forbids creating it; "
                                        "run condapack lock and commit the lock file",
                               "type": "ConfigError", "exit_code": 1}


def test_build_threads_from_j_or_condapack_threads(project: Path) -> None:
    code, _, err = cli(project, "build", "-v", "a:tar", CONDAPACK_THREADS="2")
    assert code == 0 and "condapack: debug: format tar, level 4, 2 thread(s), " in err
    code, _, err = cli(project, "build", "-v", "-j", "1", "--force", "a:tar", CONDAPACK_THREADS="2")
    assert code == 0 and "condapack: debug: format tar, level 4, 1 thread(s), " in err
    assert cli(project, "build", "-j", "0") == (
        1, "", "condapack: error: --n-threads must be a positive number up to 1024 or -1 (all cpus), got 0\n")
    assert cli(project, "build", CONDAPACK_QUIET="1", CONDAPACK_THREADS="x") == (
        1, "", "condapack: error: environment variable CONDAPACK_THREADS='x' is not a thread count; set it to "
               "a positive number up to 1024 or -1 (all cpus), or unset it\n")


def test_a_target_scanned_from_the_plans_reading_lets_the_reading_go(tiny_env: Path, tmp_path: Path) -> None:
    (tmp_path / "condapack.toml").write_text(f'[env.tiny]\nprefix = "{tiny_env}"\nformats = ["tar"]\n')
    project = load_project(tmp_path / "condapack.toml")
    readings = dict(make_plan(project).readings)
    assert list(readings) == ["tiny"]
    env = target_env(project, project.targets[0], {}, readings)
    assert readings == {} and "share/data.txt" in [f.target for f in env.files]


def test_locked_building_another_directory_than_the_lock_records_leaves_the_no_archive_output(
        tiny_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A ``no-archive`` output is a directory: ``--locked`` stages it and keeps it only with the locked digest."""
    from condapack.digest import content_digest

    config = tmp_path / "proj" / "condapack.toml"
    config.parent.mkdir()
    config.write_text(f'output-dir = "dist"\n[env.tiny]\nprefix = "{tiny_env}"\nformats = ["no-archive"]\n')
    assert main(["build", "-q", "-c", str(config)]) == 0
    output = config.parent / "dist" / "tiny"
    ours = content_digest(output)
    lock = config.parent / "condapack.lock"
    doc = json.loads(lock.read_bytes())
    doc["targets"]["tiny:no-archive"]["sha256"] = theirs = "ab" * 32  # what another machine built
    lock.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    locked = lock.read_bytes()
    capsys.readouterr()
    assert main(["build", "-q", "--locked", "-c", str(config)]) == 1
    assert capsys.readouterr().err == (
        f"condapack: error: tiny:no-archive: the archive built here has sha256 {ours[:12]}... but condapack.lock "
        f"records {theirs[:12]}...; the environment content differs in a way the lock does not capture\n")
    assert (content_digest(output), lock.read_bytes()) == (ours, locked)
    assert sorted(p.name for p in output.parent.iterdir()) == ["tiny"]
