"""The public environment object: conda-pack's surface over condapack's typed internals."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

import condapack
from condapack import CondaEnv, CondaPackException, File
from condapack.environment import completed


def test_an_environment_keeps_conda_packs_str_prefix_and_name(tiny_env: Path) -> None:
    env = CondaEnv.from_prefix(str(tiny_env))
    assert env.prefix == str(tiny_env) and isinstance(env.prefix, str)
    assert env.name == "tiny" and len(env) == len(list(env)) == len(env.files)
    assert repr(env) == f"CondaEnv<{str(tiny_env)!r}, {len(env)} files>"


def test_a_caller_built_environment_sorts_its_files_and_keeps_the_excluded_ones(tiny_env: Path) -> None:
    b, a = File("/x/b", "share/b"), File("/x/a", "share/a")
    env = CondaEnv(str(tiny_env), [b, a], [b])
    assert [f.target for f in env.files] == ["share/a", "share/b"] and env.excluded_files == (b,)
    assert env.include("share/b").excluded_files == () and len(env.exclude("*")) == 0 and len(env) == 2


def test_a_file_built_by_position_has_conda_packs_fields() -> None:
    f = File("/src/tool", "bin/tool", False, "text", "/opt/env")
    assert (f.source, f.target, f.is_conda, f.file_mode, f.prefix_placeholder) == \
        ("/src/tool", "bin/tool", False, "text", "/opt/env")
    assert File("/src/tool", "bin/tool").is_conda is True


def test_a_caller_built_file_is_read_from_its_source_when_packed(tmp_path: Path, tiny_env: Path) -> None:
    (tmp_path / "text").write_text(f"at {tiny_env}\n")
    (tmp_path / "blob").write_bytes(b"\0" + str(tiny_env).encode() + b"\0")
    (tmp_path / "link").symlink_to("text")
    (tmp_path / "empty").mkdir()
    (tmp_path / "text").chmod(0o750)
    files = completed(str(tiny_env), tuple(File(str(tmp_path / name), f"share/{name}", file_mode="unknown")
                                           for name in ("text", "blob", "link", "empty")))
    by_name = {f.target: f for f in files}
    assert (by_name["share/text"].file_mode, by_name["share/text"].mode) == ("text", 0o750)
    assert (by_name["share/blob"].file_mode, by_name["share/blob"].capacity) == ("binary", len(str(tiny_env)))
    assert (by_name["share/link"].kind, by_name["share/link"].link_target) == ("symlink", "text")
    assert (by_name["share/empty"].kind, by_name["share/empty"].file_mode) == ("dir", None)


def test_a_scanned_file_is_not_read_again_when_packed(tiny_env: Path) -> None:
    env = CondaEnv.from_prefix(str(tiny_env))
    assert completed(env.prefix, env.files) is env.files


def test_a_caller_built_file_with_another_placeholder_is_a_one_line_error(tmp_path: Path, tiny_env: Path) -> None:
    (tmp_path / "tool").write_text("/opt/placeholder\n")
    env = CondaEnv(str(tiny_env), [File(str(tmp_path / "tool"), "bin/tool", True, "text", "/opt/placeholder")])
    with pytest.raises(CondaPackException, match=r"prefix_placeholder '/opt/placeholder' is not the environment's"):
        env.pack(str(tmp_path / "out.tar"))


def test_a_caller_built_file_without_a_source_is_a_one_line_error(tmp_path: Path, tiny_env: Path) -> None:
    env = CondaEnv(str(tiny_env), [File(str(tmp_path / "gone"), "share/gone")])
    with pytest.raises(CondaPackException, match=r"cannot read .*gone: No such file or directory; give an existing"):
        env.pack(str(tmp_path / "out.tar"))


def test_a_caller_built_environment_packs_its_files_under_their_targets(tmp_path: Path, tiny_env: Path) -> None:
    (tmp_path / "note").write_text("hello\n")
    env = CondaEnv(str(tiny_env), [File(str(tmp_path / "note"), "share/note.txt")])
    out = env.pack(str(tmp_path / "out.tar"), "infer")
    assert out == os.path.abspath(tmp_path / "out.tar")
    with tarfile.open(out) as tf:
        member = tf.extractfile("share/note.txt")
        assert member is not None and member.read() == b"hello\n"


@pytest.mark.parametrize("value", ["warn", "raise", "ignore"])
def test_on_missing_cache_takes_conda_packs_values(tiny_env: Path, value: str) -> None:
    read = CondaEnv.from_prefix(str(tiny_env), on_missing_cache=value)  # type: ignore[arg-type]
    assert read.files == CondaEnv.from_prefix(str(tiny_env)).files


def test_an_unknown_on_missing_cache_value_is_a_one_line_error(tiny_env: Path) -> None:
    with pytest.raises(CondaPackException, match=r"^on_missing_cache must be 'warn', 'raise' or 'ignore', got 'no'$"):
        CondaEnv.from_prefix(str(tiny_env), on_missing_cache="no")  # type: ignore[arg-type]


def test_module_pack_takes_conda_packs_arguments_by_position(tmp_path: Path, tiny_env: Path) -> None:
    out = condapack.pack(None, str(tiny_env), str(tmp_path / "env.zip"))
    assert out == str(tmp_path / "env.zip") and Path(out).is_file()
