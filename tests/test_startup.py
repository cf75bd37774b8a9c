"""Start-up: what a command imports, and the public names that are resolved lazily."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import condapack

#: Modules only packing needs: a no-op build must not pay for importing them.
PACKING = ("condapack.packing", "condapack.members", "condapack.archive.tar", "condapack.archive.sink",
           "condapack.sbom", "condapack.cache.key", "condapack.cache.artifacts", "condapack.cache.stores",
           "condapack.environment", "pathspec")

SHOW_IMPORTS = """\
import json, sys
from condapack.cli import main
code = main(sys.argv[1:])
print(json.dumps([code, sorted(sys.modules)]))
"""


def run(argv: list[str], cwd: Path) -> tuple[int, list[str]]:
    proc = subprocess.run([sys.executable, "-c", SHOW_IMPORTS, *argv], cwd=cwd, capture_output=True, text=True,
                          check=True)
    code, modules = json.loads(proc.stdout.splitlines()[-1])
    return code, modules


def test_noop_build_imports_no_packing_module(tiny_env: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "condapack.toml").write_text(f'[env.tiny]\nprefix = "{tiny_env}"\nformats = ["tar"]\n')
    code, modules = run(["build", "-q"], project)
    assert code == 0 and "condapack.packing" in modules
    code, modules = run(["build", "-q"], project)
    assert code == 0 and [m for m in PACKING if m in modules] == []


def test_pack_stays_the_function_after_the_packing_module_is_imported() -> None:
    importlib.import_module("condapack.packing")  # what packing does on first use
    from condapack.environment import CondaEnv

    assert callable(condapack.pack) and condapack.pack.__module__ == "condapack"
    assert condapack.CondaEnv is CondaEnv and condapack.File.__name__ == "File"


def _imports(module: Path) -> set[str]:
    """The modules ``module`` imports (absolute names; relative ones resolved against condapack)."""
    package = ".".join(("condapack", *module.relative_to(PACKAGE).parent.parts))
    found: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            found.add(".".join(part for part in (base, node.module or "") if part))
    return found


PACKAGE = Path(condapack.__file__).parent


def test_the_pack_pipeline_never_imports_the_project_layer() -> None:
    """Only the command line dispatches to it; the project layer packs through the pipeline."""
    # size_cli.py is a command line too: `condapack size TARGET` names a project target
    pipeline = [p for p in PACKAGE.rglob("*.py") if "project" not in p.relative_to(PACKAGE).parts
                and p.name not in ("cli.py", "size_cli.py")]
    assert len(pipeline) > 20
    leaks = {p.name: sorted(m for m in _imports(p) if m.startswith("condapack.project")) for p in pipeline}
    assert {name: found for name, found in leaks.items() if found} == {}


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _runtime_imports(path: Path, module: str, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that ``module`` (at ``path``) imports when it runs, in functions too.

    Imports under ``if TYPE_CHECKING:`` never run; ``from . import x`` names the submodule x.
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    todo: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]) if node.level else ""
            source = ".".join(part for part in (base, node.module or "") if part)
            found.update(f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source for a in node.names)
        todo.extend(child for child in ast.iter_child_nodes(node) if not _is_type_checking(child))
    return {name for name in found if name in modules and name != module}


def import_cycles(root: Path) -> list[list[str]]:
    """Each set of modules of the package at ``root`` that import one another in a circle."""
    paths = {".".join((root.name, *p.relative_to(root).with_suffix("").parts)).removesuffix(".__init__"): p
             for p in root.rglob("*.py")}
    graph = {name: _runtime_imports(path, name, set(paths)) for name, path in paths.items()}
    reaches = {name: _reachable(graph, name) for name in graph}
    circles = {frozenset(other for other in reaches[name] if name in reaches[other]) for name in graph}
    return sorted(sorted(circle) for circle in circles if circle)


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph[name])
    return seen


def test_no_condapack_modules_import_one_another_in_a_circle() -> None:
    """Shipped scripts included; a lazy import inside a function counts, one for type checking does not."""
    assert import_cycles(PACKAGE) == []


def test_the_cycle_check_finds_a_circle_through_a_lazy_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from .sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from ..c import x\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import d\n"
                                  "from . import a\n")
    (package / "d.py").write_text("import pkg.c\n")
    assert import_cycles(package) == [["pkg.a", "pkg.c", "pkg.sub.b"]]


def test_the_command_line_parser_loads_no_project_module_but_its_commands() -> None:
    """``conda-pack`` and ``condapack pack`` start without the project layer or any packing module."""
    code = "import json, sys, condapack.cli; print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = json.loads(proc.stdout)
    project = [m for m in modules if m.startswith("condapack.project")]
    assert project == ["condapack.project", "condapack.project.outputs_cli", "condapack.project.project_cli"]
    assert [m for m in PACKING if m in modules] == []
