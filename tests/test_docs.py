"""The generated reference misses nothing: every flag, condapack.toml key, exit status and
environment variable is declared where the docs' generators read it.

The docs render the parsers (sphinx-argparse), ``project_keys()``, ``EXIT_CODES`` and the
variable tables of :mod:`condapack.envvars`; these tests fail when something exists
outside those declarations. No Sphinx needed.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Iterator

import benchmark
import benchsize
from condapack import cli
from condapack.cli import EXIT_CODES, SUBCOMMANDS, build_conda_pack_parser, build_parser
from condapack.envvars import ENV_VARS, OTHER_VARS, TARGET_VARS
from condapack.project import config
from condapack.project.keys import project_keys

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PACKAGE = ROOT / "condapack"


def _parsers() -> Iterator[argparse.ArgumentParser]:
    """The parsers the CLI reference renders, and every subcommand's parser below them."""
    todo = [build_conda_pack_parser(), build_parser()]
    while todo:
        parser = todo.pop()
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo += action.choices.values()


def test_the_cli_reference_renders_the_parser_factories() -> None:
    page = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    functions = re.findall(r"^:func: (\w+)$", page, flags=re.M)
    assert functions == ["build_conda_pack_parser", "build_parser"]
    assert all(callable(getattr(cli, name)) for name in functions)


def test_every_flag_and_subcommand_has_help_the_reference_shows() -> None:
    for parser in _parsers():
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):  # its help is each subcommand's
                assert all(choice.help for choice in action._choices_actions), parser.prog
                continue
            assert action.help and action.help != argparse.SUPPRESS, (parser.prog, action.option_strings)
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert list(subparsers.choices) == [command.name for command in SUBCOMMANDS]


def _accepted_keys() -> set[str]:
    """Every key the project loader accepts, dotted (``parcel.root``, ``cache.url``)."""
    keys = {"output-dir"} | {f"cache.{key}" for key in config._CACHE_KEYS} | set(config._ENV_ONLY)
    keys |= {key for key in config._SETTINGS if key not in config._TABLES}
    keys |= {f"{table}.{sub}" for table, subs in config._TABLES.items() for sub in subs}
    return keys


def test_every_toml_key_the_loader_accepts_is_in_the_reference() -> None:
    documented = {key.key: key for key in project_keys()}
    assert set(documented) == _accepted_keys()
    assert set(config._TOP) == {"output-dir", "defaults", "env", "cache"}
    assert all(key.help.strip() and key.default for key in documented.values())
    assert "```{condapack-toml-keys}" in (DOCS / "reference" / "config.md").read_text(encoding="utf-8")


def _example_keys() -> set[str]:
    """The keys set (or shown commented out) in condapack.toml.example."""
    text = (ROOT / "condapack.toml.example").read_text(encoding="utf-8")
    table, keys = "", set()
    settings = ("defaults", "env.", "cache")
    for line in text.splitlines():
        if line.startswith("["):
            table = line.strip("[]")
        elif (found := re.match(r"^#? ?([a-z][a-z0-9-]*) = ", line)) and table.startswith(settings):
            sub = table.split(".")[-1] if table in ("defaults.parcel", "cache") else ""
            keys.add(f"{sub}.{found[1]}" if sub else found[1])
        elif found := re.match(r"^([a-z][a-z0-9-]*) = ", line):
            keys.add(found[1])
    return keys


def test_the_example_project_file_uses_only_documented_keys() -> None:
    assert _example_keys() <= {key.key for key in project_keys()}
    assert {"output-dir", "formats", "parcel.root", "cache.url", "prefix", "name"} <= _example_keys()


def _returned_codes(path: Path) -> set[int]:
    """Integer constants a module returns, passes to sys.exit or assigns to ``code``."""
    codes = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        value = None
        if isinstance(node, ast.Return):
            value = node.value
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "exit" and node.args:
            value = node.args[0]
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "code" for t in node.targets):
            value = node.value
        if isinstance(value, ast.Constant) and type(value.value) is int:
            codes.add(value.value)
    return codes


def test_every_exit_status_the_command_lines_return_is_declared() -> None:
    modules = [PACKAGE / "cli.py", PACKAGE / "__main__.py", PACKAGE / "conda_plugin.py", *PACKAGE.rglob("*_cli.py")]
    assert len(modules) >= 6  # the command modules: pack_cli, project_cli, outputs_cli
    returned = set().union(*(_returned_codes(path) for path in modules))
    assert returned <= set(EXIT_CODES), returned - set(EXIT_CODES)
    assert {1, 130, 141} <= returned  # the scan sees the error, interrupt and broken-pipe paths
    assert "```{condapack-exit-codes}" in (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")


def _read_variables(path: Path) -> set[str]:
    """Names read with ``environ.get("X")``, ``environ["X"]``, ``getenv("X")`` or ``env_*("X")``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = getattr(func, "attr", None) or getattr(func, "id", None)
            reads_environ = name == "get" and "environ" in ast.unparse(func)
            if reads_environ or name in ("getenv", "env_flag", "env_text"):
                names.add(str(node.args[0].value))
        elif isinstance(node, ast.Subscript) and "environ" in ast.unparse(node.value):
            if isinstance(node.slice, ast.Constant):
                names.add(str(node.slice.value))
    return names


def test_every_variable_the_package_reads_is_declared() -> None:
    modules = [path for path in PACKAGE.rglob("*.py") if "scripts" not in path.parts]
    read = set().union(*(_read_variables(path) for path in modules))
    assert {"CONDAPACK_QUIET", "SOURCE_DATE_EPOCH", "CONDA_PREFIX"} <= read  # the scan sees reads
    assert read <= {*ENV_VARS, *TARGET_VARS, *OTHER_VARS}, read - {*ENV_VARS, *TARGET_VARS, *OTHER_VARS}


def test_every_public_condapack_variable_in_the_shipped_scripts_is_declared() -> None:
    # _CONDAPACK_* are the scripts' own state; @CONDAPACK_*@ are placeholders filled at pack time
    public = re.compile(r"(?<![_@A-Za-z0-9])CONDAPACK_[A-Z_]+")
    found = {name for path in [*(PACKAGE / "scripts").iterdir(), *(PACKAGE / "unpack").iterdir()] if path.is_file()
             for name in public.findall(path.read_text(encoding="utf-8", errors="replace"))}
    assert found == set(TARGET_VARS)
    page = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    assert page.count("```{condapack-env-vars}") == 3 and ":target:" in page and ":other:" in page


def _benchtable() -> ModuleType:
    """docs/_ext/benchtable.py, the stdlib-only half of the docs extension."""
    spec = importlib.util.spec_from_file_location("benchtable", DOCS / "_ext" / "benchtable.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_results_file_is_what_the_performance_page_reads() -> None:
    samples = {("tar.gz-j2", "condapack"): [benchmark.Sample(2.0, 100 << 20, 300 << 20)],
               ("tar.gz-j2", "conda-pack"): [benchmark.Sample(4.0, 700 << 20, 310 << 20)],
               ("pigz", "reference"): [benchmark.Sample(5.0, 60 << 20, 290 << 20)]}
    stats = benchmark.EnvStats(files=40_000, bytes=10**9, symlinks=0, text_prefix_files=0, binary_prefix_files=0)
    variant = benchmark.variant_doc(benchmark.VARIANTS[0], stats, samples, benchmark.CONFIGS[2:3],
                                    benchmark.REFERENCES[:1])
    doc = benchmark.results_doc(["--variant", "binary"], 3, [variant])
    table = _benchtable()
    assert doc["command"] == "tox -e bench -- --variant binary"
    assert table.comparison_rows(doc) == [("binary", "tar.gz-j2", "2.00 s", "4.00 s", "0.50", "300.0 MiB",
                                           "310.0 MiB", "100.0 MiB", "700.0 MiB")]
    assert table.reference_rows(doc) == [("binary", "tar -cf - . | pigz -p 2", "5.00 s", "290.0 MiB", "60.0 MiB",
                                          "tar.gz-j2")]
    assert table.describe_run(doc).startswith(f"Measured {doc['date']} on ")
    assert table.time_chart(doc).count("<rect ") == 2
    assert table.describe_variants(doc) == [f"binary: {benchmark.VARIANTS[0].description}; 40,000 files, 1.00 GB"]
    assert table.size_rows(doc) == table.size_time_rows(doc) == []  # measured with --skip-size


def test_the_benchmarks_size_rows_are_what_the_performance_page_reads() -> None:
    stats = benchmark.EnvStats(files=40_000, bytes=10**9, symlinks=0, text_prefix_files=0, binary_prefix_files=0)
    size = {"format": "tar.gz -j2", "archives": [{"slim": "none", "size": 400 << 20, "seconds": 10.0},
                                                {"slim": "all", "size": 300 << 20, "seconds": 8.0}],
            "seconds": {"target_fresh": 0.6, "target_first": 2.5, "path": 2.4}}
    doc = benchmark.results_doc([], 3, [benchmark.variant_doc(benchmark.VARIANTS[0], stats, {}, [], [], size)])
    table = _benchtable()
    assert table.size_rows(doc) == [("binary", "none (tar.gz -j2)", "400.0 MiB", "0.0%", "10.00 s"),
                                    ("binary", "all (tar.gz -j2)", "300.0 MiB", "25.0%", "8.00 s")]
    assert table.size_time_rows(doc) == [("binary", "0.60 s", "2.50 s", "2.40 s")]
    assert benchsize.size_lines(size, 3)[2:4] == ["| none | 419.4 | 0.0% | 10.00 |", "| all | 314.6 | 25.0% | 8.00 |"]


def test_the_benchmark_writes_its_results_where_the_docs_look() -> None:
    page = (DOCS / "performance.md").read_text(encoding="utf-8")
    assert f"```{{condapack-benchmark}} {benchmark.RESULTS.name}" in page
    assert benchmark.RESULTS.parent == DOCS
