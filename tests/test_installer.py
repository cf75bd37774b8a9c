"""Format sh: one file that installs itself, on real environments and real shells.

Installs run with bash, dash and busybox sh, extracting with GNU tar or busybox tar
(a PATH holding only busybox applets: no Python, no coreutils), into a short and a
long path; then the environment must work there without activation, and with it.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import envkit
from helpers import HOST_PATH, assert_activation_works, assert_works_at, files_mentioning, minimal_host, pack, run

LONG = "a-much-longer-directory-name-" * 3


@pytest.fixture(scope="module")
def envs(conda_channel: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The basic and nopython environments, shared by this module's tests (read-only)."""
    root = tmp_path_factory.mktemp("inst")
    return {s: envkit.create_env(s, root / f"env-{s}", conda_channel) for s in ("basic", "nopython")}


@pytest.fixture(scope="module")
def installer(envs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``env.sh`` of the basic environment."""
    out = tmp_path_factory.mktemp("sh") / "env.sh"
    pack(envs["basic"], out)
    return out


@pytest.fixture(scope="module")
def busybox_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return minimal_host(tmp_path_factory.mktemp("busybox") / "bin")


def install(installer: Path, *args: str, shell: str = "sh", path: str = HOST_PATH,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installer with ``shell`` and nothing in the environment but PATH (env -i)."""
    return subprocess.run(["env", "-i", f"PATH={path}", shell, str(installer), *args], capture_output=True,
                          text=True, cwd=cwd)


def _shell(name: str, busybox_path: Path) -> str:
    return str(busybox_path / "sh") if name == "busybox" else f"/bin/{name}"


@pytest.mark.parametrize("where", ["short", "long"])
@pytest.mark.parametrize(("shell", "tar"), [("bash", "gnu"), ("dash", "gnu"), ("busybox", "busybox"),
                                            ("dash", "busybox")])
def test_installs_with_each_shell_and_tar_and_the_env_works_there(
        installer: Path, envs: dict[str, Path], busybox_path: Path, tmp_path: Path, shell: str, tar: str,
        where: str) -> None:
    target = tmp_path / ("e" if where == "short" else LONG)
    path = str(busybox_path) if tar == "busybox" else HOST_PATH
    result = install(installer, "--prefix", str(target), "-q", shell=_shell(shell, busybox_path), path=path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert_works_at(target, str(envs["basic"]))
    assert_activation_works(target, "dash" if shell == "dash" else "bash")
    assert sorted(os.listdir(tmp_path)) == [target.name]


def test_nopython_installer_works_on_a_busybox_only_host(envs: dict[str, Path], busybox_path: Path,
                                                         tmp_path: Path) -> None:
    out = tmp_path / "np.sh"
    pack(envs["nopython"], out)
    target = tmp_path / LONG
    result = install(out, "-p", str(target), shell=str(busybox_path / "sh"), path=str(busybox_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"Installing env-nopython into {target} ...",
        f"conda-unpack: relocated 7 files to {target}",
        f"Installed env-nopython into {target}; activate it with: . {target}/bin/activate"]
    assert run([str(target / envkit.C_PROGRAM)]) == f"{target}\n{target}\n"
    assert files_mentioning(target, str(envs["nopython"])) == []


def test_default_prefix_is_the_env_name_beside_the_installer(installer: Path, tmp_path: Path) -> None:
    copy = tmp_path / "dl" / "env.sh"
    copy.parent.mkdir()
    copy.write_bytes(installer.read_bytes())
    assert install(copy, "-q", cwd=tmp_path).returncode == 0
    assert run([str(copy.parent / "env-basic" / envkit.C_PROGRAM)]).splitlines()[0] == str(copy.parent / "env-basic")


def _damaged(installer: Path, tmp_path: Path, how: str) -> Path:
    data = bytearray(installer.read_bytes())
    if how == "truncated":
        data = data[:-4096]
    else:
        data[len(data) // 2] ^= 0xFF
    out = tmp_path / f"{how}.sh"
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize("how", ["truncated", "corrupted"])
def test_damaged_installer_is_refused_before_anything_is_written(installer: Path, tmp_path: Path,
                                                                 how: str) -> None:
    damaged = _damaged(installer, tmp_path, how)
    actual = hashlib.sha256(damaged.read_bytes()[_offset(damaged) - 1:]).hexdigest()
    before = sorted(os.listdir(tmp_path))
    result = install(damaged, "-p", str(tmp_path / "target"))
    assert result.returncode == 1
    assert result.stderr == (f"{how}.sh: error: the payload's sha256 is {actual}, not {_recorded_sha(installer)}: "
                             "the file is truncated or corrupted; download it again\n")
    assert sorted(os.listdir(tmp_path)) == before
    assert install(damaged, "--check").returncode == 1


def _offset(installer: Path) -> int:
    for line in installer.read_bytes()[:8192].splitlines():
        if line.startswith(b"payload_offset="):
            return int(line.split(b"=")[1])
    raise AssertionError("no payload_offset")


def _recorded_sha(installer: Path) -> str:
    for line in installer.read_bytes()[:8192].splitlines():
        if line.startswith(b"payload_sha256="):
            return line.split(b"=")[1].decode()
    raise AssertionError("no payload_sha256")


def test_header_records_the_payload_sha256_and_offset(installer: Path) -> None:
    data = installer.read_bytes()
    assert hashlib.sha256(data[_offset(installer) - 1:]).hexdigest() == _recorded_sha(installer)
    assert data.startswith(b"#!/bin/sh\n# env-basic: a conda environment that installs itself.")


def test_existing_non_empty_prefix_is_refused_and_force_replaces_it(installer: Path, tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    result = install(installer, "--prefix", str(target))
    assert result.returncode == 1
    assert result.stderr == (f"env.sh: error: '{target}' already exists and is not empty; choose another "
                             "--prefix or pass --force to replace it\n")
    assert os.listdir(target) == ["keep.txt"]
    assert install(installer, "--prefix", str(target), "--force", "-q").returncode == 0
    assert not (target / "keep.txt").exists()
    assert run([str(target / envkit.C_PROGRAM)]) == f"{target}\n{target}\n"
    assert sorted(os.listdir(tmp_path)) == ["taken"]


def test_empty_existing_directory_is_installed_into(installer: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert install(installer, "--prefix=" + str(tmp_path / "empty"), "-q").returncode == 0
    assert (tmp_path / "empty" / envkit.C_PROGRAM).is_file()


def signal_mid_install(installer: Path, target: Path, sig: signal.Signals) -> "subprocess.Popen[bytes]":
    """Start installing into ``target`` and send ``sig`` once its temp dir beside it exists."""
    proc = subprocess.Popen(["sh", str(installer), "-p", str(target), "-q"], start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(p.name.startswith(f".{target.name}.")
                                                  for p in target.parent.iterdir()):
        time.sleep(0.01)
    time.sleep(0.2)
    os.killpg(proc.pid, sig)
    return proc


@pytest.mark.serial
def test_sigkill_during_install_leaves_no_half_env_and_the_next_install_cleans_up(
        installer: Path, tmp_path: Path) -> None:
    target = tmp_path / "killed"
    proc = signal_mid_install(installer, target, signal.SIGKILL)
    proc.wait()
    assert not target.exists()
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert all(name.startswith(".killed.condapack-install.") for name in leftovers) and leftovers
    assert install(installer, "-p", str(target), "-q").returncode == 0
    assert sorted(os.listdir(tmp_path)) == ["killed"]


@pytest.mark.serial
def test_ctrl_c_during_install_removes_everything_it_wrote(installer: Path, tmp_path: Path) -> None:
    target = tmp_path / "stopped"
    proc = signal_mid_install(installer, target, signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert os.listdir(tmp_path) == []


def test_help_list_and_check(installer: Path) -> None:
    result = install(installer, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: sh env.sh [--prefix DIR] [--force] [-q] [--no-verify]\n")
    listed = install(installer, "--list").stdout.splitlines()
    assert "bin/conda-unpack" in listed and envkit.C_PROGRAM in listed
    check = install(installer, "--check")
    assert (check.returncode, check.stderr) == (0, f"env.sh: payload OK (sha256 {_recorded_sha(installer)})\n")


def test_unknown_argument_is_one_line(installer: Path) -> None:
    result = install(installer, "--prefx", "x")
    assert (result.returncode, result.stderr) == (
        1, "env.sh: error: unknown argument '--prefx'; see sh env.sh --help\n")


def test_without_a_sha256_tool_it_says_so_and_no_verify_installs(installer: Path, busybox_path: Path,
                                                                  tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    for tool in busybox_path.iterdir():
        if tool.name not in ("sha256sum", "openssl"):
            (bare / tool.name).symlink_to(os.readlink(tool))
    sh = "/bin/dash"  # busybox sh finds its own applets whatever PATH says
    result = install(installer, "-p", str(tmp_path / "t"), shell=sh, path=str(bare))
    assert (result.returncode, result.stderr) == (1, (
        "env.sh: error: no sha256 tool found (sha256sum, shasum or openssl) to verify the payload; install one "
        "or pass --no-verify\n"))
    assert not (tmp_path / "t").exists()
    result = install(installer, "-p", str(tmp_path / "t"), "--no-verify", "-q", shell=sh, path=str(bare))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "t" / envkit.C_PROGRAM).is_file()


def test_missing_decompressor_is_named(envs: dict[str, Path], busybox_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "np.zst.sh"
    pack(envs["nopython"], out)
    result = install(out, "-p", str(tmp_path / "t"), shell=str(busybox_path / "sh"), path=str(busybox_path))
    assert (result.returncode, result.stderr) == (1, (
        "np.zst.sh: error: the payload is zstd-compressed and this system has no zstd command; install zstd "
        "(package zstd, or xz-utils / zstd) and run again\n"))
    assert sorted(os.listdir(tmp_path)) == ["np.zst.sh"]


def test_not_enough_space_is_refused_where_df_exists(installer: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fakebin"
    fake.mkdir()
    (fake / "df").write_text("#!/bin/sh\necho 'Filesystem 1024-blocks Used Available Capacity Mounted on'\n"
                             "echo '/dev/x 100 90 10 90% /'\n")
    (fake / "df").chmod(0o755)
    result = install(installer, "-p", str(tmp_path / "t"), path=f"{fake}:{HOST_PATH}")
    assert result.returncode == 1
    assert result.stderr.startswith(f"env.sh: error: not enough space in {tmp_path}: ")
    assert result.stderr.endswith(" KiB needed, 10 KiB free; free some space or choose another --prefix\n")
    assert sorted(os.listdir(tmp_path)) == ["fakebin"]


@pytest.mark.parametrize("fmt", ["sh", "sh.xz"])
def test_installer_is_byte_reproducible_at_any_thread_count(envs: dict[str, Path], tmp_path: Path,
                                                            fmt: str) -> None:
    pack(envs["nopython"], tmp_path / "one", "--format", fmt, "-j", "1")
    pack(envs["nopython"], tmp_path / "two", "--format", fmt, "-j", "2")
    assert (tmp_path / "one").read_bytes() == (tmp_path / "two").read_bytes()
    assert os.access(tmp_path / "one", os.X_OK)


def test_xz_installer_installs_with_busybox(envs: dict[str, Path], busybox_path: Path, tmp_path: Path) -> None:
    pack(envs["nopython"], tmp_path / "np.xz.sh")
    target = tmp_path / "t"
    result = install(tmp_path / "np.xz.sh", "-p", str(target), "-q", shell=str(busybox_path / "sh"),
                     path=str(busybox_path))
    assert result.returncode == 0, result.stderr
    assert run([str(target / envkit.C_PROGRAM)]) == f"{target}\n{target}\n"


def test_dest_prefix_is_refused_for_installers(envs: dict[str, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from condapack.cli import conda_pack_main

    assert conda_pack_main(["-p", str(envs["nopython"]), "-o", str(tmp_path / "x.sh"), "-d", "/opt/x", "-q"]) == 1
    assert capsys.readouterr().err == (
        "CondaPackError: --dest-prefix and --arcroot cannot be used with format sh: the installer sets the "
        "environment up wherever it is installed (sh FILE --prefix DIR)\n")


def test_project_target_builds_an_installer(envs: dict[str, Path], tmp_path: Path) -> None:
    from condapack.cli import main

    (tmp_path / "condapack.toml").write_text(
        f'output-dir = "dist"\n[env.np]\nprefix = "{envs["nopython"]}"\nformats = ["sh", "tar"]\n')
    assert main(["build", "-c", str(tmp_path / "condapack.toml"), "-q"]) == 0
    assert sorted(os.listdir(tmp_path / "dist")) == ["SHA256SUMS", "np.sh", "np.tar"]
    target = tmp_path / "installed"
    assert install(tmp_path / "dist" / "np.sh", "-p", str(target), "-q").returncode == 0
    assert run([str(target / envkit.C_PROGRAM)]) == f"{target}\n{target}\n"
