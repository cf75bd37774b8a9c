"""Each bad input gets one exact line on stderr, exit status 1, and writes nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import envkit
from condapack.cli import conda_pack_main, main
from envkit import EnvFactory


def fail(capsys: pytest.CaptureFixture[str], argv: list[str], entry: object = conda_pack_main) -> str:
    """Run the CLI expecting failure; return its single stderr line."""
    assert entry(argv) == 1  # type: ignore[operator]
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[-1].startswith(("CondaPackError: ", "condapack: error: "))
    assert "Traceback" not in captured.err
    assert captured.out == ""
    return lines[-1]


def listing(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_missing_prefix(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = fail(capsys, ["-p", str(tmp_path / "nope"), "-o", str(tmp_path / "o.tar")])
    assert line == (f"CondaPackError: Environment path '{tmp_path / 'nope'}' doesn't exist; "
                    "pass the path of an existing conda environment")
    assert listing(tmp_path) == []


def test_not_an_environment(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    line = fail(capsys, ["-p", str(tmp_path / "plain"), "-o", str(tmp_path / "o.tar")])
    assert line == (f"CondaPackError: Path '{tmp_path / 'plain'}' is not a conda environment (it has no "
                    "conda-meta directory); pass the path of a conda environment")


def test_name_and_prefix_together(capsys: pytest.CaptureFixture[str], tiny_env: Path) -> None:
    line = fail(capsys, ["-n", "x", "-p", str(tiny_env)])
    assert line == ("CondaPackError: Cannot specify both 'name' and 'prefix'; "
                    "pass only one of -n/--name and -p/--prefix")


def test_unknown_name(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("CONDA_EXE", raising=False)
    monkeypatch.delenv("CONDA_ENVS_PATH", raising=False)
    monkeypatch.delenv("CONDA_ROOT", raising=False)
    monkeypatch.delenv("MAMBA_ROOT_PREFIX", raising=False)
    line = fail(capsys, ["-n", "ghost"])
    assert line.startswith("CondaPackError: Environment name 'ghost' doesn't exist (looked in ")
    assert line.endswith("and ~/.conda/environments.txt); pass its path with -p/--prefix")


def test_named_env_found_in_environments_txt(monkeypatch: pytest.MonkeyPatch, tiny_env: Path,
                                             tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("CONDA_EXE", raising=False)
    (tmp_path / ".conda").mkdir()
    (tmp_path / ".conda" / "environments.txt").write_text(f"{tiny_env}\n")
    monkeypatch.chdir(tmp_path)
    assert conda_pack_main(["-n", "tiny", "-q"]) == 0
    assert (tmp_path / "tiny.tar.gz").is_file()


@pytest.mark.parametrize("kind", ["past the cap", "a FIFO", "a directory"])
def test_an_environments_txt_that_is_not_a_small_file_is_one_line(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("CONDA_EXE", raising=False)
    registry = tmp_path / ".conda" / "environments.txt"
    registry.parent.mkdir()
    if kind == "past the cap":
        with open(registry, "wb") as fh:
            fh.truncate((16 << 20) + 1)  # sparse: nothing past the cap may be read
    else:
        os.mkfifo(registry) if kind == "a FIFO" else registry.mkdir()
    why = {"past the cap": "larger than 16 MiB, more than condapack reads there; is it the right file?",
           "a FIFO": "is a FIFO, not a regular file; remove it or name a file",
           "a directory": "is a directory, not a regular file; remove it or name a file"}[kind]
    assert fail(capsys, ["-n", "ghost"]) == f"CondaPackError: {registry}: {why}"


def test_no_environment_active(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    line = fail(capsys, [])
    assert line == ("CondaPackError: no environment selected and none is active (CONDA_PREFIX is not set); "
                    "pass -n NAME or -p PATH")


def test_existing_output_is_kept(capsys: pytest.CaptureFixture[str], tiny_env: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.tar.gz"
    out.write_bytes(b"precious")
    line = fail(capsys, ["-p", str(tiny_env), "-o", str(out)])
    assert line == f"CondaPackError: File '{out}' already exists; pass --force to overwrite it"
    assert out.read_bytes() == b"precious"
    assert conda_pack_main(["-p", str(tiny_env), "-o", str(out), "-f", "-q"]) == 0
    assert out.read_bytes() != b"precious"


def test_output_inside_the_environment(capsys: pytest.CaptureFixture[str], tiny_env: Path) -> None:
    before = listing(tiny_env)
    out = tiny_env / "share" / "me.tar"
    line = fail(capsys, ["-p", str(tiny_env), "-o", str(out)])
    assert line == (f"CondaPackError: Output '{out}' is inside the environment being packed ({tiny_env}); "
                    "write it elsewhere")
    assert listing(tiny_env) == before


def test_missing_output_directory(capsys: pytest.CaptureFixture[str], tiny_env: Path, tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "dir" / "o.tar"
    line = fail(capsys, ["-p", str(tiny_env), "-o", str(out)])
    assert line == (f"CondaPackError: The target output directory {out.parent} does not exist; "
                    "create it or pass --force")
    assert not (tmp_path / "no").exists()


def test_unknown_extension(capsys: pytest.CaptureFixture[str], tiny_env: Path, tmp_path: Path) -> None:
    line = fail(capsys, ["-p", str(tiny_env), "-o", str(tmp_path / "o.rar")])
    assert line == (f"CondaPackError: Unknown file extension of output '{tmp_path / 'o.rar'}'; use one of "
                    ".oci.tar, .oci, .tar.gz, .tgz, .tar.bz2, .tbz2, .tar.xz, .txz, .tar.zst, .tzst, .tar, .zip, "
                    ".squashfs, .parcel, .xz.sh, .zst.sh, .sh or pass --format")
    assert listing(tmp_path) == ["tiny", "tiny/conda-meta", "tiny/share", "tiny/share/data.txt"]


def test_relative_dest_prefix(capsys: pytest.CaptureFixture[str], tiny_env: Path, tmp_path: Path) -> None:
    line = fail(capsys, ["-p", str(tiny_env), "-o", str(tmp_path / "o.tar"), "-d", "rel/path"])
    assert line == ("CondaPackError: --dest-prefix must be an absolute path, got 'rel/path'; pass the final "
                    "location of the environment")


def test_bad_compress_level(capsys: pytest.CaptureFixture[str], tiny_env: Path, tmp_path: Path) -> None:
    line = fail(capsys, ["pack", "-p", str(tiny_env), "-o", str(tmp_path / "o.tar"), "--compress-level", "12"],
                entry=main)
    assert line == "condapack: error: --compress-level must be between 0 and 9 for tar, got 12"
    line = fail(capsys, ["pack", "-p", str(tiny_env), "-o", str(tmp_path / "o.tar.zst"), "--compress-level", "23"],
                entry=main)
    assert line == "condapack: error: --compress-level must be between 0 and 22 for tar.zst, got 23"
    assert listing(tmp_path) == ["tiny", "tiny/conda-meta", "tiny/share", "tiny/share/data.txt"]


def test_missing_managed_files(capsys: pytest.CaptureFixture[str], real_env: EnvFactory, tmp_path: Path) -> None:
    env = real_env("missing_files")
    line = fail(capsys, ["-p", str(env), "-o", str(tmp_path / "o.tar")])
    assert line == (f"CondaPackError: 1 files managed by conda are missing from {env} (cpdemo-tools 1.0: "
                    f"{envkit.MISSING_FILE}); this usually means pip removed or overwrote them: repair the "
                    "environment, or pass --ignore-missing-files to pack it without them")
    assert not (tmp_path / "o.tar").exists()
    assert conda_pack_main(["-p", str(env), "-o", str(tmp_path / "o.tar"), "--ignore-missing-files"]) == 0
    assert "conda-pack: warning: packing without 1 missing files managed by conda" in capsys.readouterr().err


def test_editable_packages(capsys: pytest.CaptureFixture[str], real_env: EnvFactory, tmp_path: Path) -> None:
    env = real_env("editable")
    line = fail(capsys, ["-p", str(env), "-o", str(tmp_path / "o.tar")])
    assert line.startswith("CondaPackError: Cannot pack an environment with editable packages (")
    assert envkit.EDITABLE_PEP660 in line and envkit.EDITABLE_LEGACY in line
    assert line.endswith("): they point at source trees outside the environment and would not work "
                         "elsewhere; install them without -e, or pass --ignore-editable-packages to pack anyway")
    assert not (tmp_path / "o.tar").exists()
    assert conda_pack_main(["-p", str(env), "-o", str(tmp_path / "o.tar"), "-q",
                            "--ignore-editable-packages"]) == 0
