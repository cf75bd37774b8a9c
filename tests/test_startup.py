"""Start-up: what a command imports, and the public names that are resolved lazily."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import condapack

#: Modules only packing needs: a no-op build must not pay for importing them.
PACKING = ("condapack.packing", "condapack.members", "condapack.archive.tar", "condapack.archive.compress",
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
    import ast

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
    pipeline = [p for p in PACKAGE.rglob("*.py") if "project" not in p.relative_to(PACKAGE).parts
                and p.name != "cli.py"]
    assert len(pipeline) > 20
    leaks = {p.name: sorted(m for m in _imports(p) if m.startswith("condapack.project")) for p in pipeline}
    assert {name: found for name, found in leaks.items() if found} == {}
