"""Slimming presets: what they remove, the guard rails that keep what an environment needs, and
that a slimmed environment still relocates, runs its entry points and imports every module."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

import envkit
from condapack.cli import main
from condapack.elf import needed_libraries
from condapack.prefix import File
from condapack.pyimports import module_name, top_level_imports
from condapack.size import size_archive
from condapack.slim import PRESETS, SLIM_FILE, slim_files
from envkit import EnvFactory
from helpers import assert_works_at, extract, pack, run

SITE = envkit.SITE_PACKAGES
ALL_PRESETS = ",".join(PRESETS)


def _files(prefix: Path, paths: dict[str, str], executable: tuple[str, ...] = ()) -> list[File]:
    """Write ``paths`` (relative path -> text) under ``prefix`` and describe them as :class:`File`."""
    files = []
    for rel, text in paths.items():
        (prefix / rel).parent.mkdir(parents=True, exist_ok=True)
        (prefix / rel).write_text(text)
        files.append(File(None, rel, mode=0o755 if rel in executable else 0o644, size=len(text.encode()),
                          root=str(prefix)))
    return files


def test_a_module_a_kept_module_imports_at_import_time_is_kept_and_one_imported_in_a_function_goes(
        tmp_path: Path) -> None:
    files = _files(tmp_path, {
        f"{SITE}/pkg/__init__.py": "from .tests import fixtures\n",
        f"{SITE}/pkg/tests/__init__.py": "",
        f"{SITE}/pkg/tests/fixtures.py": "from pkg.tests.data import VALUE\n",
        f"{SITE}/pkg/tests/data.py": "VALUE = 1\n",
        f"{SITE}/pkg/tests/test_pkg.py": "import pkg\n",
        f"{SITE}/lazy/__init__.py": "def check():\n    from lazy.tests import run\n",
        f"{SITE}/lazy/tests/__init__.py": "",
        f"{SITE}/lazy/tests/run.py": "",
    })
    done = slim_files(files, ("tests",), frozenset())
    assert [r.path for r in done.removed] == [f"{SITE}/lazy/tests/__init__.py", f"{SITE}/lazy/tests/run.py",
                                              f"{SITE}/pkg/tests/test_pkg.py"]
    assert {r.path: r.kept for r in done.guarded} == {
        f"{SITE}/pkg/tests/__init__.py": f"imported by {SITE}/pkg/__init__.py",
        f"{SITE}/pkg/tests/fixtures.py": f"imported by {SITE}/pkg/__init__.py",
        f"{SITE}/pkg/tests/data.py": f"imported by {SITE}/pkg/tests/fixtures.py",
    }


def test_entry_points_pth_files_and_sourceless_bytecode_are_kept_and_cached_bytecode_goes(tmp_path: Path) -> None:
    files = _files(tmp_path, {
        "bin/test/run-tool": "#!/bin/sh\n",
        "share/doc/extra.pth": "import os\n",
        f"{SITE}/legacy.pyc": "",
        f"{SITE}/mod.py": "",
        f"{SITE}/__pycache__/mod.cpython-311.pyc": "",
        f"{SITE}/pkg/tests/old.pyc": "",
    })
    done = slim_files(files, ("bytecode", "tests", "docs"), frozenset({"bin/test/run-tool"}))
    assert [r.path for r in done.removed] == [f"{SITE}/__pycache__/mod.cpython-311.pyc", f"{SITE}/pkg/tests/old.pyc"]
    assert {r.path: r.kept for r in done.guarded} == {
        "bin/test/run-tool": "an entry point",
        "share/doc/extra.pth": "a .pth file (read at start-up)",
        f"{SITE}/legacy.pyc": "bytecode without a source (it is the module)",
    }


def test_a_shared_library_a_kept_elf_file_needs_is_kept_and_others_go(tmp_path: Path) -> None:
    program = os.path.realpath(shutil.which("ls") or "/bin/ls")
    needed = needed_libraries(program)
    assert "libc.so.6" in needed
    (tmp_path / "bin").mkdir()
    shutil.copy(program, tmp_path / "bin/ls")
    files = [File(None, "bin/ls", mode=0o755, size=os.path.getsize(program), root=str(tmp_path)),
             *_files(tmp_path, {"lib/debug/libc.so.6": "", "lib/debug/libunused.so": ""})]
    done = slim_files(files, ("debug",), frozenset())
    assert [r.path for r in done.removed] == ["lib/debug/libunused.so"]
    assert [(r.path, r.kept) for r in done.guarded] == [("lib/debug/libc.so.6", "needed by bin/ls")]


def test_anything_but_an_elf_file_needs_no_libraries(tmp_path: Path) -> None:
    (tmp_path / "script").write_bytes(b"#!/bin/sh\n")
    (tmp_path / "broken").write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 9 + b"\xff" * 8)
    assert needed_libraries(str(tmp_path / "script")) == ()
    assert needed_libraries(str(tmp_path / "broken")) == ()
    assert needed_libraries(str(tmp_path / "missing")) == ()


def test_module_names_come_from_the_import_roots_and_imports_from_import_time_code_only() -> None:
    assert module_name(f"{SITE}/pkg/sub/__init__.py") == "pkg.sub"
    assert module_name(f"lib/python{envkit.PY_SHORT}/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so") == "_ssl"
    assert module_name(f"lib/python{envkit.PY_SHORT}/json/decoder.py") == "json.decoder"
    assert module_name(f"{SITE}/not-a-package/mod.py") is None
    assert module_name("bin/tool") is None
    source = (b"import a.b\nfrom . import c\nfrom ..d import e\ntry:\n    import f\nexcept ImportError:\n"
              b"    import g\nclass K:\n    import h\ndef later():\n    import never\nmatch K:\n    case 1:\n"
              b"        import m\n")
    assert top_level_imports(source, "pkg.sub", True) == {
        "a", "a.b", "pkg.sub", "pkg.sub.c", "pkg", "pkg.d", "pkg.d.e", "f", "g", "h", "m"}
    assert top_level_imports(b"this is not python(", "x", False) == frozenset()


# The end-to-end checks: a real environment with a package whose tests/ it imports at import time.

_IMPORT_ALL = """
import contextlib, importlib, io, json, sys
failed = []
for name in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            importlib.import_module(name)
        except BaseException as exc:
            failed.append(name)
print(json.dumps(failed))
"""

#: Modules whose import opens a browser or waits for input.
_NOT_IMPORTED = {"antigravity", "__main__"}


def _add_slimdemo(env: Path) -> None:
    """A package (unmanaged, as pip leaves one) whose ``tests/`` its ``__init__`` imports, and docs."""
    site = env / SITE
    (site / "slimdemo/tests").mkdir(parents=True)
    (site / "slimdemo/__init__.py").write_text("from .tests.fixtures import VALUE\n")
    (site / "slimdemo/tests/__init__.py").write_text("")
    (site / "slimdemo/tests/fixtures.py").write_text("VALUE = 42\n")
    (site / "slimdemo/tests/test_value.py").write_text("import slimdemo\n")
    (env / "share/doc/slimdemo").mkdir(parents=True)
    (env / "share/doc/slimdemo/README").write_text("slimdemo\n" * 100)


def _top_level_modules(env: Path) -> list[str]:
    """Every top-level module some package (or pip) installed in the environment."""
    paths = [p for record in (env / "conda-meta").glob("*.json") for p in json.loads(record.read_text())["files"]]
    paths += [p.relative_to(env).as_posix() for p in (env / SITE).glob("*/__init__.py")]
    names = {name.split(".")[0] for name in map(module_name, paths) if name is not None}
    return sorted(names - _NOT_IMPORTED)


def _needed_names(prefix: Path) -> set[str]:
    """Every library name a file under ``prefix`` links to (``DT_NEEDED``)."""
    return {name for p in prefix.rglob("*") if p.is_file() and not p.is_symlink()
            for name in needed_libraries(str(p))}


def _failed_imports(prefix: Path, names: list[str], cwd: Path) -> list[str]:
    out = run([str(prefix / envkit.PYTHON_BIN), "-c", _IMPORT_ALL, json.dumps(names)], cwd=cwd)
    return list(json.loads(out))


@pytest.mark.slow
def test_a_slimmed_environment_relocates_runs_its_entry_points_and_imports_every_top_level_module(
        real_env: EnvFactory, tmp_path: Path) -> None:
    env = real_env("basic")
    _add_slimdemo(env)
    modules = _top_level_modules(env)
    assert {"os", "json", "pip", "cpdemo", "slimdemo", "_ssl"} <= set(modules)
    full_failures = _failed_imports(env, modules, tmp_path)
    archive = tmp_path / "slim.tar.gz"
    pack(env, archive, "--slim", ALL_PRESETS)
    prefix = extract(archive, tmp_path / "somewhere" / "else")
    assert not list(prefix.rglob("*.pyc")) and not (prefix / "share/doc").exists()
    assert not (prefix / SITE / "slimdemo/tests/test_value.py").exists()
    run([str(prefix / "bin/conda-unpack")])
    assert_works_at(prefix, str(env))
    assert _failed_imports(prefix, modules, tmp_path) == full_failures
    assert run([str(prefix / "bin/pip"), "--version"]).startswith("pip ")
    had = {p.name for p in env.rglob("*")}
    assert {name for name in _needed_names(prefix) if name in had} <= {p.name for p in prefix.rglob("*")}


@pytest.mark.slow
def test_the_archive_lists_what_slimming_removed_and_the_size_report_shows_it(real_env: EnvFactory,
                                                                               tmp_path: Path) -> None:
    env = real_env("basic")
    _add_slimdemo(env)
    pyc = sorted(p.relative_to(env).as_posix() for p in env.rglob("*.pyc"))
    pack(env, tmp_path / "slim.tar", "--slim", "tests,docs,bytecode")
    with tarfile.open(tmp_path / "slim.tar") as tf:
        extracted = tf.extractfile(SLIM_FILE)
        assert extracted is not None
        doc = json.loads(extracted.read())
    assert sorted(doc["presets"]) == ["bytecode", "docs", "tests"]
    removed = {path: (preset, package) for path, preset, _, package in doc["removed"]}
    assert removed[f"{SITE}/slimdemo/tests/test_value.py"] == ("tests", None)
    assert removed["share/doc/slimdemo/README"] == ("docs", None)
    assert sorted(p for p, (preset, _) in removed.items() if preset == "bytecode") == pyc
    assert [row[:2] for row in doc["kept"]] == [[f"{SITE}/slimdemo/tests/__init__.py", "tests"],
                                                [f"{SITE}/slimdemo/tests/fixtures.py", "tests"]]
    report = size_archive(str(tmp_path / "slim.tar"))
    assert report.removed is not None
    assert (report.removed.files, report.removed.size) == (len(doc["removed"]),
                                                            sum(row[2] for row in doc["removed"]))


@pytest.mark.slow
def test_a_slimmed_archive_is_byte_reproducible(real_env: EnvFactory, tmp_path: Path) -> None:
    env = real_env("basic")
    _add_slimdemo(env)
    pack(env, tmp_path / "one.tar.gz", "--slim", ALL_PRESETS)
    os.utime(env / SITE / "slimdemo/tests/fixtures.py")
    pack(env, tmp_path / "two.tar.gz", "--slim", ALL_PRESETS)
    assert (tmp_path / "one.tar.gz").read_bytes() == (tmp_path / "two.tar.gz").read_bytes()
    plain = tmp_path / "plain.tar.gz"
    pack(env, plain)
    assert plain.stat().st_size > (tmp_path / "one.tar.gz").stat().st_size


def test_the_lock_records_the_slim_option_and_changing_it_rebuilds_the_target(
        shared_env: EnvFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "condapack.toml"
    config.write_text(f'output-dir = "dist"\n[env.a]\nprefix = "{shared_env("basic")}"\nformats = ["tar"]\n'
                      'slim = ["tests", "bytecode"]\n')
    assert main(["build", "-c", str(config)]) == 0
    lock = json.loads((tmp_path / "condapack.lock").read_text())
    assert lock["targets"]["a:tar"]["options"]["slim"] == "bytecode,tests"
    with tarfile.open(tmp_path / "dist/a.tar") as tf:
        assert not [name for name in tf.getnames() if name.endswith(".pyc")]
    config.write_text(config.read_text().replace('"tests", "bytecode"', '"tests"'))
    capsys.readouterr()
    assert main(["plan", "-c", str(config)]) == 0
    assert capsys.readouterr().out == "a:tar  build       options changed (slim)\n"
    assert main(["build", "-c", str(config)]) == 0
    assert json.loads((tmp_path / "condapack.lock").read_text())["targets"]["a:tar"]["options"]["slim"] == "tests"
    with tarfile.open(tmp_path / "dist/a.tar") as tf:
        assert [name for name in tf.getnames() if name.endswith(".pyc")]


@pytest.mark.parametrize("value, message", [
    ("tests,doc", "--slim: unknown preset 'doc' (did you mean 'docs'?)"),
    ("everything", "--slim: unknown preset 'everything' (presets: bytecode, tests, docs, headers, static, debug, "
                   "locales, examples, caches)"),
])
def test_an_unknown_preset_on_the_command_line_is_one_line_before_anything_is_read(
        value: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from condapack.cli import conda_pack_main

    assert conda_pack_main(["-p", str(tmp_path / "no-such-env"), "-o", str(tmp_path / "x.tar"), "--slim", value]) == 1
    assert capsys.readouterr().err.splitlines() == [f"CondaPackError: {message}"]  # conda-pack's error form
    assert not (tmp_path / "x.tar").exists()


def test_the_slim_option_help_names_every_preset_in_order() -> None:
    from condapack.options import schema

    help_text = next(spec.help for spec in schema() if spec.name == "slim")
    assert f"(comma-separated): {', '.join(PRESETS)}. " in help_text
