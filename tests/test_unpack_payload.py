"""The unpack payload (``condapack/unpack/``) runs on the oldest Python it must, with the stdlib only.

Python 3.6 is the oldest: bin/conda-unpack runs the environment's own Python when its
conda-meta record says 3.6 or newer, else any ``python3`` on the host that is 3.6 or newer
(RHEL/CentOS 8's platform Python and the oldest conda environments still in use are
3.6), else the sh implementation. So every shipped module must parse and run there:
no ``from __future__ import annotations`` (3.7), no dataclasses (3.7), no walrus (3.8).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from condapack.layout import POSIX
from condapack.relocation import PAYLOAD, SHIPPED_MODULES, Relocatable, unpack_files
from condapack.unpack.rewrite import binary_fields

OLDEST = (3, 6)
OLD = "/opt/old/env"
#: Standard-library modules the payload may import that sys.stdlib_module_names lists
#: under another name, or (private C modules) not at all.
_PRIVATE_STDLIB = {"_json", "_signal"}


def _tree(module: str) -> ast.Module:
    return ast.parse((PAYLOAD / module).read_text(encoding="utf-8"), module, feature_version=OLDEST)


def test_the_payload_is_every_module_of_the_unpack_package() -> None:
    assert set(SHIPPED_MODULES) == {"__init__.py", "__main__.py", "cli.py", "inplace.py", "journal.py", "mutex.py",
                                    "manifest.py", "quoting.py", "relocate.py", "rewrite.py", "safepath.py",
                                    "state.py", "targets.py", "undo.py"}


@pytest.mark.parametrize("module", [*SHIPPED_MODULES, "conda-unpack-script.py"])
def test_every_shipped_module_parses_as_the_oldest_python(module: str) -> None:
    tree = _tree(module)
    futures = [alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               and node.module == "__future__" for alias in node.names]
    assert futures == []


def _imports(module: str) -> set[str]:
    """The absolute modules ``module`` imports (relative imports are its siblings)."""
    found = set()
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.add(str(node.module).split(".")[0])
    return found


@pytest.mark.parametrize("module", SHIPPED_MODULES)
def test_shipped_modules_import_only_the_standard_library_and_each_other(module: str) -> None:
    assert _imports(module) - set(sys.stdlib_module_names) - _PRIVATE_STDLIB == set()


def test_the_windows_helper_imports_only_the_standard_library_and_the_shipped_package() -> None:
    assert _imports("conda-unpack-script.py") - set(sys.stdlib_module_names) == {"unpack"}


def _oldest_python() -> str | None:
    """A Python 3.6 on this host, if any (a pyenv shim runs it with PYENV_VERSION set)."""
    found = shutil.which("python3.6")
    if found is None:
        return None
    probe = subprocess.run([found, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True,
                           env={**os.environ, "PYENV_VERSION": "3.6"})
    return found if probe.stdout.strip() == "(3, 6)" else None


def _make_prefix(root: Path) -> Path:
    prefix = root / "env"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "tool").write_text(f"#!{OLD}/bin/python\nprint('{OLD}')\n")
    lib = b"\x7fELF" + OLD.encode() + b"/lib\0" + b"\0" * 200 + b"end"
    (prefix / "lib.so").write_bytes(lib)
    items = [Relocatable("bin/tool", "text"),
             Relocatable("lib.so", "binary", 200, tuple(binary_fields(lib, OLD.encode())))]
    for path, (data, mode) in unpack_files(OLD, items, POSIX).items():
        (prefix / path).parent.mkdir(parents=True, exist_ok=True)
        (prefix / path).write_bytes(data)
        (prefix / path).chmod(mode)
    return prefix


def test_conda_unpack_runs_under_the_oldest_python_and_writes_what_this_python_writes(tmp_path: Path) -> None:
    oldest = _oldest_python()
    if oldest is None:
        pytest.skip("no Python 3.6 on this host (python3.6 on PATH)")
    results = []
    for python, root in ((oldest, tmp_path / "old"), (sys.executable, tmp_path / "new")):
        prefix = _make_prefix(root)
        run = subprocess.run([python, "-B", "-E", "-s", "-S", str(prefix / "conda-meta/condapack/unpack"), str(prefix),
                              "--dest", "/opt/new place/env"], capture_output=True, text=True,
                             env={**os.environ, "PYENV_VERSION": "3.6"})
        assert (run.returncode, run.stderr) == (0, "conda-unpack: relocated 2 files to /opt/new place/env\n")
        results.append({name: (prefix / name).read_bytes() for name in ("bin/tool", "lib.so")})
    assert results[0] == results[1]
    assert results[0]["bin/tool"].startswith(b"#!/bin/sh\n'''exec' '/opt/new place/env/bin/python'")
