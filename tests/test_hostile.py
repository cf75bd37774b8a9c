"""Hostile and unlucky input: no path escapes, no leaks through links, consistent records.

Every case runs on a real environment and real archives, and checks that nothing
outside the intended directory changed: a canary directory (a sticky 1777 directory
holding a 0600 secret) sits beside the environment, and links in the environment
point into it. Every archive produced here is extracted with GNU tar, bsdtar, Python's
``tarfile`` with ``filter="data"`` and ``zipfile``, and none may refuse it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

import envkit
from condapack import output
from condapack.cli import conda_pack_main, main
from helpers import extract, run
from systools import require

SECRET = b"host secret\n"
NON_UTF8 = b"share/caf\xe9-latin1.txt"
MAKE_HOSTILE = "share/a:b c$d#e*.txt"


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sticky world-writable directory with a private secret, outside every env."""
    root = tmp_path_factory.mktemp("canary") / "outside"
    root.mkdir()
    (root / "secret").write_bytes(SECRET)
    (root / "secret").chmod(0o600)
    root.chmod(0o1777)
    return root


def assert_canary_intact(canary: Path) -> None:
    assert stat.S_IMODE(canary.stat().st_mode) == 0o1777
    assert sorted(p.name for p in canary.iterdir()) == ["secret"]
    assert (canary / "secret").read_bytes() == SECRET
    assert stat.S_IMODE((canary / "secret").stat().st_mode) == 0o600


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, canary: Path, conda_channel: Path) -> Path:
    """A real env with links out of it, link cycles and names tar, zip and make choke on."""
    prefix = envkit.create_env("nopython", tmp_path_factory.mktemp("hostile") / "env", conda_channel)
    share = prefix / "share"
    os.symlink(str(canary), share / "leak")  # absolute, to a directory outside
    os.symlink("../../outside-file", share / "up")  # relative, climbing out
    os.symlink(str(canary / "secret"), share / "secret-link")
    (share / "cycle").mkdir()
    os.symlink(".", share / "cycle" / "self")
    os.symlink("..", share / "cycle" / "parent")
    os.symlink("cpdemo-1.0/greeting.txt", share / "inside-link")
    with open(os.path.join(os.fsencode(prefix), NON_UTF8), "wb") as fh:
        fh.write(b"latin-1 name\n")
    (prefix / MAKE_HOSTILE).write_text("make me\n")
    return prefix


def names_in(archive: Path) -> set[str]:
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            return {n.rstrip("/") for n in zf.namelist()}
    with tarfile.open(archive) as tf:
        return {m.name for m in tf.getmembers()}


def extract_everywhere(archive: Path, dest: Path) -> None:
    """Every standard extractor accepts the archive (and none writes outside ``dest``)."""
    tools = {"bsdtar": [require("bsdtar"), "-xf", str(archive), "-C"]}
    if archive.name.endswith(".zip"):
        tools["unzip"] = [require("unzip"), "-q", str(archive), "-d"]
    else:
        tools["gnutar"] = [require("tar"), "-xf", str(archive), "-C"]
    for name, cmd in tools.items():
        (dest / name).mkdir(parents=True)
        result = subprocess.run([*cmd, str(dest / name)], capture_output=True)
        assert result.returncode == 0, f"{name} refused {archive.name}: {result.stderr!r}"
    (dest / "python").mkdir()
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            assert zf.testzip() is None
            zf.extractall(dest / "python")
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(dest / "python", filter="data")


@pytest.mark.parametrize("output,extra", [
    ("o.tar.gz", ()), ("o.tar", ()), ("o.zip", ()), ("o.zip", ("--zip-symlinks",)),
    ("o.parcel", ("--parcel-version", "1.0")),
], ids=["tar.gz", "tar", "zip", "zip-symlinks", "parcel"])
def test_archives_of_a_hostile_env_leak_nothing_and_every_extractor_accepts_them(
        env: Path, canary: Path, tmp_path: Path, output: str, extra: tuple[str, ...]) -> None:
    archive = tmp_path / output
    assert conda_pack_main(["-p", str(env), "-o", str(archive), "-q", *extra]) == 0
    names = names_in(archive)
    root = "env-1.0/" if output.endswith(".parcel") else ""
    assert {f"{root}share/leak", f"{root}share/up", f"{root}share/secret-link"} & names == set()
    assert not any(n.startswith(f"{root}share/leak/") for n in names)
    assert f"{root}share/inside-link" in names
    assert f"{root}{MAKE_HOSTILE}" in names
    extract_everywhere(archive, tmp_path / "x")
    assert [p for p in (tmp_path / "x").rglob("*") if p.is_file() and not p.is_symlink()
            and SECRET in p.read_bytes()] == []
    assert_canary_intact(canary)
    raw_name = root.encode() + NON_UTF8
    assert (tmp_path / "x" / "bsdtar" / os.fsdecode(raw_name)).read_bytes() == b"latin-1 name\n"
    # zipfile reads names without the UTF-8 flag as cp437, as the zip specification says
    python_name = raw_name.decode("cp437") if output.endswith(".zip") else os.fsdecode(raw_name)
    assert (tmp_path / "x" / "python" / python_name).read_bytes() == b"latin-1 name\n"


def test_zip_without_symlinks_copies_links_inside_the_env_and_cuts_cycles(env: Path, tmp_path: Path) -> None:
    archive = tmp_path / "o.zip"
    assert conda_pack_main(["-p", str(env), "-o", str(archive), "-q"]) == 0
    with zipfile.ZipFile(archive) as zf:
        assert zf.read("share/inside-link") == (env / envkit.DATA_FILE).read_bytes()
        assert zf.read(f"{envkit.DIR_SYMLINK}/greeting.txt") == (env / envkit.DATA_FILE).read_bytes()
        assert [n for n in zf.namelist() if n.startswith("share/cycle/")] == []


def test_arcroot_that_climbs_out_is_refused_and_nothing_outside_changes(
        env: Path, canary: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = canary / "sub" / "out"
    for arcroot in ("../..", "a/../../b", "x\0y"):
        code = conda_pack_main(["-p", str(env), "-o", str(tmp_path / "o"), "--format", "no-archive",
                                "--arcroot", arcroot, "-q"])
        assert code == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["CondaPackError: --arcroot may not contain '..', got '../..'; name a directory inside the archive",
                   "CondaPackError: --arcroot may not contain '..', got 'a/../../b'; name a directory inside "
                   "the archive",
                   "CondaPackError: --arcroot contains a NUL byte; name a directory inside the archive"]
    assert not out.exists() and sorted(os.listdir(tmp_path)) == []
    assert_canary_intact(canary)


def test_parcel_identity_that_names_a_path_is_refused(env: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert conda_pack_main(["-p", str(env), "-o", str(tmp_path / "p.parcel"), "--parcel-name", "../x", "-q",
                            "--parcel-version", "1"]) == 1
    assert conda_pack_main(["-p", str(env), "-o", str(tmp_path / "p.parcel"), "--parcel-version", "../1", "-q"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "CondaPackError: parcel name may not contain '..', got '../x'; pass --parcel-name with another value",
        "CondaPackError: parcel version may not contain '..', got '../1'; pass --parcel-version with another value",
    ]
    assert os.listdir(tmp_path) == []


def project(tmp_path: Path, env: Path, body: str) -> Path:
    config = tmp_path / "proj" / "condapack.toml"
    config.parent.mkdir(parents=True)
    config.write_text(body.replace("ENV", os.path.relpath(env, config.parent)))
    return config


def project_error(capsys: pytest.CaptureFixture[str], config: Path, command: str = "build") -> str:
    assert main([command, "-c", str(config)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    return err.rstrip("\n")


@pytest.mark.parametrize("body,message", [
    ('[env."../../evil"]\nprefix = "ENV"\n',
     "condapack.toml: env: environment key '../../evil' may not contain '..', got '../../evil'; "
     "rename the [env] table"),
    ('[env."a/b"]\nprefix = "ENV"\n',
     "condapack.toml: env: environment key 'a/b' must be a plain name without /, got 'a/b'; rename the [env] table"),
    ('[env."a:b"]\nprefix = "ENV"\n',
     "condapack.toml: env: environment key 'a:b' may not contain ':', spaces at its ends or control "
     "characters; rename the [env] table"),
    ('[env.app]\nprefix = "ENV"\noutput = ""\n',
     "condapack.toml: env.app.output: may not be empty, got ''; set a template such as '{env}{ext}'"),
    ('[env.app]\nprefix = "ENV"\narcroot = "../../x"\n',
     "condapack.toml: env.app.arcroot: may not contain '..', got '../../x'; name a directory inside the archive"),
    ('output-dir = "../elsewhere"\n[env.app]\nprefix = "ENV"\n',
     "condapack.toml: output-dir: may not contain '..', got '../elsewhere'; name a directory inside the project"),
    ('[env.app]\nprefix = "ENV"\noutput = "SHA256SUMS"\n',
     "condapack.toml: env.app.output: app:tar.gz would overwrite SHA256SUMS; choose another name"),
    ('[env.App]\nprefix = "ENV"\n[env.app]\nprefix = "ENV"\n',
     "condapack.toml: output: targets App:tar.gz and app:tar.gz both write app.tar.gz; put {env} and "
     "{ext} in the output template"),
    ('[env.app]\nprefix = "ENV"\nformat = "parcel"\nparcel = {version = "1", name = "a/b"}\n',
     "condapack.toml: env.app.parcel.name: must be a plain name without /, got 'a/b'; set another value"),
], ids=["env-key-dotdot", "env-key-slash", "env-key-colon", "empty-output", "arcroot", "output-dir",
        "sums-file", "case-collision", "parcel-name"])
def test_project_names_that_escape_or_collide_are_config_errors(
        env: Path, canary: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str,
        message: str) -> None:
    config = project(tmp_path, env, body)
    assert project_error(capsys, config) == f"condapack: error: {message}"
    assert sorted(os.listdir(config.parent)) == ["condapack.toml"]
    assert sorted(os.listdir(tmp_path)) == ["proj"]
    assert_canary_intact(canary)


def test_deps_escapes_names_for_make_and_make_tracks_them(env: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    config = project(tmp_path, env, '[env.app]\nprefix = "ENV"\nformat = "tar"\n')
    root = config.parent
    monkeypatch.chdir(root)
    assert main(["deps", "app:tar", "-c", str(config), "-o", str(root / "app.d")]) == 0
    (root / "Makefile").write_text("include app.d\ndist/app.tar:\n\tmkdir -p dist && touch $@\n")
    make = [require("make"), "-s", "-C", str(root), "dist/app.tar"]
    subprocess.run(make, check=True, capture_output=True)
    assert subprocess.run([*make[:-1], "-q", "dist/app.tar"]).returncode == 0
    os.utime(env / MAKE_HOSTILE)  # the file with ':', ' ', '$', '#' and '*' in its name
    assert subprocess.run([*make[:-1], "-q", "dist/app.tar"]).returncode == 1


def test_deps_refuses_names_make_cannot_express(env: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(env, tmp_path / "env", symlinks=True)
    (tmp_path / "env" / "share" / "new\nline").write_text("x")
    config = project(tmp_path, tmp_path / "env", '[env.app]\nprefix = "ENV"\nformat = "tar"\n')
    assert main(["deps", "app:tar", "-c", str(config)]) == 1
    err = capsys.readouterr()
    assert err.out == ""
    assert err.err == (f"condapack: error: make cannot name '{tmp_path}/env/share/new\\nline' in a dependency "
                       "file (it contains '\\n'); rename that file, or list the target's dependencies another way\n")


# -- conda-unpack -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env_archive(env: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    archive = tmp_path_factory.mktemp("archive") / "env.tar"
    assert conda_pack_main(["-p", str(env), "-o", str(archive), "-q"]) == 0
    return archive


def unpacked(archive: Path, dest: Path) -> Path:
    return extract(archive, dest)


@pytest.fixture(params=["python", "sh"])
def impl(request: pytest.FixtureRequest) -> str:
    """Every conda-unpack guarantee holds for the unpack package and for the POSIX shell one."""
    return str(request.param)


def unpack_command(prefix: Path, impl: str) -> list[str]:
    return [str(prefix / "bin" / "conda-unpack"), *(["--sh"] if impl == "sh" else [])]


def conda_unpack(prefix: Path, impl: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(unpack_command(prefix, impl), capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"})


def recorded_prefix(prefix: Path) -> str:
    return (prefix / "conda-meta/condapack/prefix").read_text()


def test_conda_unpack_never_writes_through_a_symlinked_directory(
        env_archive: Path, env: Path, canary: Path, tmp_path: Path, impl: str) -> None:
    prefix = unpacked(env_archive, tmp_path / "u")
    outside = tmp_path / "elsewhere"
    shutil.copytree(prefix / "etc", outside)
    before = (outside / "cpdemo.conf").read_bytes()
    listing = sorted(p.relative_to(outside) for p in outside.rglob("*"))
    shutil.rmtree(prefix / "etc")
    os.symlink(outside, prefix / "etc")
    result = conda_unpack(prefix, impl)
    assert result.returncode == 1
    assert result.stderr.startswith(f"conda-unpack: error: cannot relocate 1 files to {prefix} (etc/cpdemo.conf: "
                                    "is below a symbolic link that leaves the environment); nothing was changed")
    assert (outside / "cpdemo.conf").read_bytes() == before
    assert sorted(p.relative_to(outside) for p in outside.rglob("*")) == listing
    assert recorded_prefix(prefix) == str(env)


def test_conda_unpack_never_follows_a_link_at_its_temp_name_or_a_linked_file(
        env_archive: Path, canary: Path, tmp_path: Path, impl: str) -> None:
    prefix = unpacked(env_archive, tmp_path / "u")
    created = tmp_path / "created-outside"
    os.symlink(created, prefix / "etc" / "cpdemo.conf.condapack-unpack")
    os.symlink(created, prefix / "conda-meta" / "condapack" / "pending.condapack-unpack")
    result = conda_unpack(prefix, impl)
    assert result.returncode == 0, result.stderr
    assert not created.exists() and not (prefix / "etc" / "cpdemo.conf.condapack-unpack").exists()
    assert not os.path.lexists(prefix / "conda-meta" / "condapack" / "pending.condapack-unpack")
    assert str(prefix).encode() in (prefix / "etc" / "cpdemo.conf").read_bytes()
    # A managed file replaced by a link to a file outside: refused, the outside file untouched.
    prefix = unpacked(env_archive, tmp_path / "v")
    target = tmp_path / "victim"
    shutil.copy(prefix / envkit.CONF_FILE, target)
    before = target.read_bytes()
    (prefix / envkit.CONF_FILE).unlink()
    os.symlink(target, prefix / envkit.CONF_FILE)
    result = conda_unpack(prefix, impl)
    assert result.returncode == 1
    assert (f"{envkit.CONF_FILE}: is not a regular file (conda-unpack never writes through a symbolic link)"
            in result.stderr)
    assert target.read_bytes() == before
    assert_canary_intact(canary)


@pytest.mark.parametrize("line,problem", [
    ("t ../../outside", "file '../../outside' may not contain '..', got '../../outside'"),
    ("t bin/../../x", "file 'bin/../../x' may not contain '..', got 'bin/../../x'"),
    ("t /etc/passwd", "file '/etc/passwd' must be a relative path, got '/etc/passwd'"),
    ("t bin/a\\000b", "file 'bin/a\\000b' contains a NUL byte"),
    ("x bin/x", "bad line 'x bin/x'"),
])
def test_conda_unpack_refuses_a_manifest_path_outside_the_prefix(
        env_archive: Path, env: Path, tmp_path: Path, impl: str, line: str, problem: str) -> None:
    prefix = unpacked(env_archive, tmp_path / "u")
    path = prefix / "conda-meta/condapack/unpack.txt"
    path.write_text(f"{path.read_text()}{line}\n")
    before = (prefix / envkit.CONF_FILE).read_bytes()
    result = conda_unpack(prefix, impl)
    assert (result.returncode, result.stderr) == (
        1, f"conda-unpack: error: {path} is malformed ({problem}); unpack the archive again\n")
    assert (prefix / envkit.CONF_FILE).read_bytes() == before and recorded_prefix(prefix) == str(env)
    assert not (prefix / "conda-meta/condapack/unpack.mutex").exists()


def test_conda_unpack_reports_a_broken_manifest_in_one_line(env_archive: Path, tmp_path: Path, impl: str) -> None:
    prefix = unpacked(env_archive, tmp_path / "u")
    path = prefix / "conda-meta/condapack/unpack.txt"
    for data in (b"[" * 100_000, b"{\"files\": 3}", b"\xff\xfe", b"t a\nt b\n", b"condapack-unpack 3\nt a"):
        path.write_bytes(data)
        result = conda_unpack(prefix, impl)
        assert result.returncode == 1
        assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
        assert result.stderr.startswith("conda-unpack: error: ")
        assert result.stderr.endswith("unpack the archive again\n")


@pytest.mark.parametrize("name", ["manifest", "prefix", "journal"])
def test_conda_unpack_refuses_a_fifo_among_its_files_in_one_line_without_blocking(
        env_archive: Path, tmp_path: Path, impl: str, name: str) -> None:
    prefix = unpacked(env_archive, tmp_path / "u")
    state = prefix / "conda-meta/condapack"
    path = state / {"manifest": "unpack.txt"}.get(name, name)
    if path.exists():
        path.unlink()
    os.mkfifo(path)
    before = tree_state(prefix)
    result = subprocess.run(unpack_command(prefix, impl), capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("conda-unpack: error: ") and "Traceback" not in result.stderr
    assert tree_state(prefix) == before


def tree_state(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def test_python_conda_unpack_refuses_a_manifest_past_its_cap(env_archive: Path, tmp_path: Path) -> None:
    prefix = unpacked(env_archive, tmp_path / "u")
    manifest = prefix / "conda-meta/condapack/unpack.txt"
    with open(manifest, "r+b") as fh:
        fh.truncate((1 << 30) + 1)  # sparse: nothing is written, and nothing must be read past the cap
    result = conda_unpack(prefix, "python")
    assert (result.returncode, result.stderr) == (1, f"conda-unpack: error: cannot read {manifest} ([Errno 27] "
                                                     "larger than 1024 MiB); unpack the archive again\n")


def test_two_conda_unpacks_at_once_both_succeed_and_relocate_once(env_archive: Path, tmp_path: Path,
                                                                  impl: str) -> None:
    prefix = unpacked(env_archive, tmp_path / "u")
    procs = [subprocess.Popen(unpack_command(prefix, impl), stderr=subprocess.PIPE, text=True,
                              env={"PATH": "/usr/bin:/bin"}) for _ in range(3)]
    errors = [p.communicate()[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    assert sorted(e.split(" ", 2)[1] for e in errors) == sorted(["relocated", str(prefix), str(prefix)])
    run([str(prefix / envkit.C_PROGRAM)])
    assert not list(prefix.rglob("*.condapack-unpack"))
    assert not (prefix / "conda-meta/condapack/unpack.mutex").exists()


def test_conda_unpack_waits_for_a_live_mutex_of_either_implementation(env_archive: Path, env: Path,
                                                                     tmp_path: Path, impl: str) -> None:
    prefix = unpacked(env_archive, tmp_path / "u")
    owner = subprocess.Popen(["sleep", "60"])
    mutex = prefix / "conda-meta/condapack/unpack.mutex"
    mutex.mkdir()
    (mutex / "pid").write_text(str(owner.pid))
    proc = subprocess.Popen(unpack_command(prefix, impl), stderr=subprocess.PIPE, text=True,
                            env={"PATH": "/usr/bin:/bin"})
    time.sleep(1.5)
    assert proc.poll() is None and recorded_prefix(prefix) == str(env)
    owner.kill()
    owner.wait()
    assert proc.communicate(timeout=30)[1].startswith("conda-unpack: relocated ")
    assert proc.returncode == 0 and recorded_prefix(prefix) == str(prefix) and not mutex.exists()


def test_conda_unpack_takes_over_the_mutex_of_a_killed_run(env_archive: Path, tmp_path: Path, impl: str) -> None:
    prefix = unpacked(env_archive, tmp_path / "u")
    dead = subprocess.Popen(["true"])
    dead.wait()
    (prefix / "conda-meta/condapack/unpack.mutex").mkdir()
    (prefix / "conda-meta/condapack/unpack.mutex/pid").write_text(str(dead.pid))
    result = conda_unpack(prefix, impl)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("conda-unpack: relocated ")
    assert not (prefix / "conda-meta/condapack/unpack.mutex").exists()


# -- interrupted and failing builds ------------------------------------------------------


def sums_verify(dist: Path) -> None:
    """Every line of SHA256SUMS verifies (an absent file has no false line either)."""
    if (dist / "SHA256SUMS").exists():
        subprocess.run(["sha256sum", "--check", "--quiet", "--strict", "SHA256SUMS"], cwd=dist, check=True)


def lock_describes_disk(config: Path) -> None:
    import hashlib

    lock = json.loads((config.parent / "condapack.lock").read_text())
    for name, entry in lock["targets"].items():
        if "sha256" in entry:
            output = config.parent / entry["options"]["output"]
            assert hashlib.sha256(output.read_bytes()).hexdigest() == entry["sha256"], name


def test_a_failing_later_target_leaves_sums_and_lock_true_for_what_was_replaced(
        env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(env, tmp_path / "env", symlinks=True)
    config = project(tmp_path, tmp_path / "env", '[env.a]\nprefix = "ENV"\nformat = "tar"\n'
                     '[env.b]\nprefix = "ENV"\nformat = "squashfs"\n')
    assert main(["build", "-q", "-c", str(config)]) == 0
    (tmp_path / "env" / "share" / "new.txt").write_text("changes both archives\n")
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # b:squashfs fails: no mksquashfs
    assert main(["build", "-q", "-c", str(config)]) == 1
    monkeypatch.undo()
    assert capsys.readouterr().err.splitlines()[-1] == (
        "condapack: error: b:squashfs: format squashfs needs the mksquashfs command; install squashfs-tools "
        "(e.g. apt-get install squashfs-tools) or choose another format")
    dist = config.parent / "dist"
    sums_verify(dist)
    assert (dist / "SHA256SUMS").read_text().split()[1::2] == ["a.tar"]
    lock_describes_disk(config)
    assert "share/new.txt" in names_in(dist / "a.tar")


def test_a_path_longer_than_path_max_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = tmp_path / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    monkeypatch.chdir(prefix)
    for _ in range(25):  # 25 * 201 bytes > PATH_MAX (4096)
        os.mkdir("d" * 200)
        os.chdir("d" * 200)
    monkeypatch.chdir(tmp_path)
    assert conda_pack_main(["-p", str(prefix), "-o", str(tmp_path / "o.tar"), "-q"]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert err.startswith(f"CondaPackError: cannot read {prefix}/{'d' * 200}/")
    assert err.endswith(": File name too long; shorten or remove it (it is longer than the system allows) and "
                        "pack again\n")
    assert sorted(os.listdir(tmp_path)) == ["env"]


# -- smaller: overwrite races, directory outputs, growing files, full disks -----------------


def test_two_packs_to_one_path_without_force_one_wins_and_the_other_says_so(env: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.tar"
    cmd = [sys.executable, "-m", "condapack", "pack", "-p", str(env), "-o", str(out), "-q"]
    procs = [subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = sorted((p.wait(), p.communicate()[1]) for p in procs)
    assert [code for code, _ in results] == [0, 1, 1]
    # A loser that got past the first check has already warned about the env's links (as
    # the winner did); either way it ends with the one-line error, never a traceback.
    assert {err.splitlines()[-1] for _, err in results[1:]} == {
        f"condapack: error: File '{out}' already exists; pass --force to overwrite it"}
    assert all(line.startswith("condapack: warning: ") for _, err in results[1:] for line in err.splitlines()[:-1])
    assert sorted(os.listdir(tmp_path)) == ["o.tar"]


def test_no_archive_output_gets_umask_modes_and_force_replaces_only_an_environment(
        env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "copy"
    old = os.umask(0o022)
    try:
        assert conda_pack_main(["-p", str(env), "-o", str(out), "--format", "no-archive", "-q"]) == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o755
        (out / "share" / "stale.txt").write_text("from an older pack\n")
        assert conda_pack_main(["-p", str(env), "-o", str(out), "--format", "no-archive", "-q", "-f"]) == 0
        assert not (out / "share" / "stale.txt").exists() and (out / envkit.C_PROGRAM).is_file()
    finally:
        os.umask(old)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine\n")
    assert conda_pack_main(["-p", str(env), "-o", str(precious), "--format", "no-archive", "-q", "-f"]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"CondaPackError: Output '{precious}' is a directory that holds no environment; --force only replaces "
        "an earlier no-archive output: choose another -o/--output")
    assert (precious / "keep.txt").read_text() == "mine\n"
    assert sorted(os.listdir(tmp_path)) == ["copy", "precious"]


def test_a_file_that_grows_while_it_is_packed_is_an_error_not_a_cut(
        env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import condapack.archive.tar as tar
    from condapack.archive.sink import read_exactly

    prefix = tmp_path / "env"
    shutil.copytree(env, prefix, symlinks=True)
    growing = prefix / "share" / "growing.log"
    growing.write_text("first line\n")
    real_read = read_exactly  # what tar.py imported, patched below where it looks it up

    def read_then_grow(fd: int, size: int) -> bytes:
        data = real_read(fd, size)
        if os.path.samefile(f"/proc/self/fd/{fd}", growing):
            with open(growing, "a") as fh:
                fh.write("written while packing\n")
        return data

    monkeypatch.setattr(tar, "read_exactly", read_then_grow)
    assert conda_pack_main(["-p", str(prefix), "-o", str(tmp_path / "o.tar"), "-q"]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"CondaPackError: {growing} changed size while it was being packed; pack again when nothing is writing "
        "to the environment")
    assert not (tmp_path / "o.tar").exists()


def test_a_full_disk_while_writing_the_lock_is_a_one_line_error(
        env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    config = project(tmp_path, env, '[env.app]\nprefix = "ENV"\nformat = "tar"\n')
    real_write = output._write_all

    def full(fd: int, data: bytes) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").rpartition("/")[2].startswith(".condapack.lock."):
            real_write(fd, data[:10])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(fd, data)

    monkeypatch.setattr(output, "_write_all", full)
    assert project_error(capsys, config, "lock") == (
        f"condapack: error: cannot write {config.parent / 'condapack.lock'}: No space left on device; free some "
        "space (or fix the directory's permissions) and run again")
    assert sorted(os.listdir(config.parent)) == [".condapack", "condapack.toml"]


def test_nul_bytes_in_command_line_paths_are_one_line_errors(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    prefix = tmp_path / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    assert conda_pack_main(["-p", str(prefix), "-o", str(tmp_path / "a\0b.tar"), "-q"]) == 1
    assert conda_pack_main(["-p", f"{prefix}\0x", "-o", str(tmp_path / "o.tar"), "-q"]) == 1
    assert conda_pack_main(["-p", str(prefix), "-o", str(tmp_path / "o.tar"), "-d", "/opt/a\0b", "-q"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "CondaPackError: --output contains a NUL byte; name the archive to write",
        "CondaPackError: --prefix contains a NUL byte; pass the path of a conda environment",
        "CondaPackError: --dest-prefix contains a NUL byte; pass the final location of the environment",
    ]
    assert sorted(os.listdir(tmp_path)) == ["env"]


def _place(path: Path, kind: str, size: int) -> None:
    """Put at ``path`` what a user or another machine could: a link, or a file past the cap."""
    path.unlink()
    if kind == "link to /dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "directory":
        path.mkdir()
    else:
        big = path if kind == "past the cap" else path.with_name("elsewhere")
        with open(big, "wb") as fh:
            fh.truncate(size + 1)  # sparse: nothing is written, and nothing must be read past the cap
        if big != path:
            path.symlink_to(big)


@pytest.mark.parametrize("name,cap", [("manifest", 1 << 30), ("prefix", 1 << 20)])
@pytest.mark.parametrize("kind", ["past the cap", "link past the cap", "link to /dev/zero", "directory"])
def test_conda_unpack_reads_its_files_bounded_and_refuses_anything_else_in_one_line(
        env_archive: Path, tmp_path: Path, impl: str, name: str, cap: int, kind: str) -> None:
    prefix = unpacked(env_archive, tmp_path / "u")
    state = prefix / "conda-meta/condapack"
    path = state / ("unpack.txt" if name == "manifest" else name)
    _place(path, kind, cap)
    before = tree_state(prefix)
    result = subprocess.run(unpack_command(prefix, impl), capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin"})
    why = _REFUSED[impl, name == "manifest", kind].format(cap=cap >> 20, path=path)
    assert (result.returncode, result.stderr) == (
        1, f"conda-unpack: error: cannot read {path} ({why}); unpack the archive again\n")
    assert tree_state(prefix) == before


_LINKS = ("link past the cap", "link to /dev/zero")
#: Why each conda-unpack refuses each placement (unpack.py's manifest errors say the errno).
_REFUSED = {
    **{("sh", manifest, kind): "not a regular file" for manifest in (True, False) for kind in (*_LINKS, "directory")},
    **{("sh", manifest, "past the cap"): "larger than {cap} MiB" for manifest in (True, False)},
    ("python", True, "past the cap"): "[Errno 27] larger than {cap} MiB",
    ("python", False, "past the cap"): "larger than {cap} MiB",
    **{("python", True, kind): "[Errno 40] Too many levels of symbolic links: '{path}'" for kind in _LINKS},
    **{("python", False, kind): "Too many levels of symbolic links" for kind in _LINKS},
    ("python", True, "directory"): "[Errno 22] not a regular file",
    ("python", False, "directory"): "not a regular file",
}


@pytest.mark.parametrize("name", ["a$(touch CANARY)b", "q'uo\"te", "back`touch CANARY`tick", "sp ace;touch CANARY",
                                  "\u00e9t\u00e9 *"])
def test_an_environment_named_like_a_command_installs_under_its_name_and_runs_nothing(
        conda_channel: Path, tmp_path: Path, name: str) -> None:
    """The installer's default directory is the environment's name, written into the script."""
    env = envkit.create_env("basic", tmp_path / "pack" / name, conda_channel)
    installer = tmp_path / "here" / "app.sh"
    installer.parent.mkdir()
    assert conda_pack_main(["-p", str(env), "-o", str(installer), "--format", "sh", "-q"]) == 0
    run(["sh", str(installer), "-q"], cwd=installer.parent)
    assert sorted(os.listdir(installer.parent)) == sorted(["app.sh", name])
    prefix = installer.parent / name
    activated = run(["bash", "-c", '. "$1/bin/activate" && printf %s "$CONDA_PREFIX"', "-", str(prefix)],
                    cwd=tmp_path)
    assert activated == str(prefix)
    assert list(tmp_path.rglob("CANARY")) == []
