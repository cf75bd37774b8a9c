"""The scriptable command line: --json documents, CONDAPACK_* variables, -v, exit codes, --version."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from pathlib import Path

import pytest

import condapack
from condapack.cli import EXIT_CODES, build_conda_pack_parser, build_parser, conda_pack_main, main
from condapack.envvars import ENV_VARS
from condapack.options import resolve_threads


@pytest.fixture(autouse=True)
def no_condapack_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets the variables it is about; none leak in from the caller's shell."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def test_version_says_which_tool_answers_and_where_it_is_installed(capsys: pytest.CaptureFixture[str]) -> None:
    where = Path(condapack.__file__).resolve().parent
    assert conda_pack_main(["--version"]) == 0
    assert capsys.readouterr().out == f"conda-pack {condapack.__version__} (condapack, from {where})\n"
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"condapack {condapack.__version__} (from {where})\n"


def test_pack_json_describes_the_archive_on_stdout(tiny_env: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tiny.tar.gz"
    assert conda_pack_main(["-p", str(tiny_env), "-o", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert sorted(doc) == ["members", "output", "seconds", "sha256", "size"]
    with tarfile.open(out) as tar:
        members = len(tar.getmembers())
    assert (doc["output"], doc["sha256"], doc["size"], doc["members"]) == (
        str(out), hashlib.sha256(out.read_bytes()).hexdigest(), out.stat().st_size, members)
    assert isinstance(doc["seconds"], float) and doc["seconds"] >= 0


def test_condapack_pack_json_is_the_same_document(tiny_env: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tiny.tar"
    assert main(["pack", "-p", str(tiny_env), "-o", str(out), "--json", "-q"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert (doc["output"], doc["size"]) == (str(out), out.stat().st_size)
    assert captured.err == ""


def test_json_error_is_one_json_object_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    assert conda_pack_main(["-p", str(missing), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert json.loads(captured.err) == {
        "error": f"Environment path '{missing}' doesn't exist; pass the path of an existing conda environment",
        "type": "EnvError", "exit_code": 1}


def test_without_json_the_same_error_is_one_plain_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    assert conda_pack_main(["-p", str(missing)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (f"CondaPackError: Environment path '{missing}' doesn't "
                                                        "exist; pass the path of an existing conda environment")


def test_condapack_quiet_silences_pack_like_q(tiny_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CONDAPACK_QUIET", "1")
    assert conda_pack_main(["-p", str(tiny_env), "-o", str(tmp_path / "t.tar")]) == 0
    assert capsys.readouterr() == ("", "")
    monkeypatch.setenv("CONDAPACK_QUIET", "0")
    assert conda_pack_main(["-p", str(tiny_env), "-o", str(tmp_path / "u.tar")]) == 0
    assert capsys.readouterr().err.splitlines()[-1] == f"Wrote {tmp_path / 'u.tar'}"


def test_verbose_adds_debug_detail(tiny_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert conda_pack_main(["-p", str(tiny_env), "-o", str(tmp_path / "t.tar"), "-v"]) == 0
    debug = [line for line in capsys.readouterr().err.splitlines() if ": debug: " in line]
    assert len(debug) == 1
    threads = min(len(os.sched_getaffinity(0)), 8)
    assert debug[0].startswith(f"conda-pack: debug: format tar, level 4, {threads} thread(s), ")


@pytest.mark.parametrize(("value", "message"), [
    ("maybe", "CondaPackError: environment variable CONDAPACK_QUIET='maybe' is not a boolean; "
              "set it to 1 or 0, or unset it"),
])
def test_bad_boolean_variable_is_one_line(value: str, message: str, tiny_env: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CONDAPACK_QUIET", value)
    assert conda_pack_main(["-p", str(tiny_env), "-o", str(tmp_path / "t.tar")]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == message
    assert not (tmp_path / "t.tar").exists()


@pytest.mark.parametrize("value", ["abc", "0", "-2"])
def test_bad_condapack_threads_is_one_line(value: str, tiny_env: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CONDAPACK_THREADS", value)
    assert conda_pack_main(["-p", str(tiny_env), "-o", str(tmp_path / "t.tar")]) == 1
    assert capsys.readouterr().err == (f"CondaPackError: environment variable CONDAPACK_THREADS={value!r} is not "
                                       "a thread count; set it to a positive number up to 1024 or -1 (all cpus), "
                                       "or unset it\n")
    assert not (tmp_path / "t.tar").exists()


def test_condapack_threads_sets_the_default_and_j_wins(tiny_env: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CONDAPACK_THREADS", "2")
    assert conda_pack_main(["-p", str(tiny_env), "-o", str(tmp_path / "a.tar"), "-v"]) == 0
    assert ", level 4, 2 thread(s), " in capsys.readouterr().err
    assert conda_pack_main(["-p", str(tiny_env), "-o", str(tmp_path / "b.tar"), "-v", "-j", "1"]) == 0
    assert ", level 4, 1 thread(s), " in capsys.readouterr().err


def test_default_threads_are_every_usable_cpu_up_to_8_and_j1_is_one(tiny_env: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CONDAPACK_THREADS", raising=False)
    cpus = len(os.sched_getaffinity(0))
    assert conda_pack_main(["-p", str(tiny_env), "-o", str(tmp_path / "a.tar"), "-v"]) == 0
    assert f", level 4, {min(cpus, 8)} thread(s), " in capsys.readouterr().err
    assert conda_pack_main(["-p", str(tiny_env), "-o", str(tmp_path / "b.tar"), "-v", "-j", "-1"]) == 0
    assert f", level 4, {cpus} thread(s), " in capsys.readouterr().err
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    assert (resolve_threads(None), resolve_threads(-1), resolve_threads(1), resolve_threads(12)) == (8, 64, 1, 12)


def _epilog_lines() -> list[str]:
    return [f"  {code:<5}{meaning}" for code, meaning in EXIT_CODES.items()]


def test_help_epilogs_document_exit_codes_and_variables(capsys: pytest.CaptureFixture[str]) -> None:
    conda_pack_help = build_conda_pack_parser().format_help().splitlines()
    condapack_help = build_parser().format_help().splitlines()
    for lines in (conda_pack_help, condapack_help):
        assert "exit status:" in lines
        assert all(line in lines for line in _epilog_lines())
    assert [line.split()[0] for line in conda_pack_help if line.startswith("  CONDAPACK_")] == [
        "CONDAPACK_QUIET", "CONDAPACK_THREADS"]
    assert [line.split()[0] for line in condapack_help if line.startswith("  CONDAPACK_")] == sorted(ENV_VARS)


def test_exit_codes_are_the_documented_ones() -> None:
    # the docs render EXIT_CODES itself (tests/test_docs.py checks that no other code is returned)
    assert sorted(EXIT_CODES) == [0, 1, 2, 130, 141]
