"""Which modules Python files import when they are themselves imported, read without running them.

Only code that runs at import time counts: the module body, including ``if``/``try``/``with``
blocks and class bodies, never a function's body (that runs later, if at all). The slim
guard rail uses it to keep a module a kept module needs at import time.
"""

from __future__ import annotations

import ast
import re
from typing import Iterable, Iterator, Optional

__all__ = ["module_name", "top_level_imports"]

# Where import names start, relative to the prefix; the longest alternative is tried first.
_IMPORT_ROOT = re.compile(r"^(?:lib/python\d+\.\d+t?/(?:site-packages/|lib-dynload/)?|Lib/(?:site-packages/)?)")
_MODULE_FILE = re.compile(r"^(\w+)(?:\.py|\.pyw|\.pyi|(?:\.[\w-]+)?\.(?:so|pyd))$")


def module_name(path: str) -> Optional[str]:
    """``lib/python3.11/site-packages/pkg/tests/__init__.py`` -> ``pkg.tests``; None for anything
    that is not an importable module file (bytecode, data, a name that is no identifier)."""
    root = _IMPORT_ROOT.match(path)
    if root is None:
        return None
    *packages, filename = path[root.end():].split("/")
    found = _MODULE_FILE.match(filename)
    if found is None or not all(p.isidentifier() for p in packages):
        return None
    stem = found.group(1)
    if stem == "__init__":
        return ".".join(packages) or None
    return ".".join([*packages, stem])


def top_level_imports(source: bytes, module: str, is_package: bool) -> frozenset[str]:
    """The absolute names of every module (and each of its parents) that importing ``module``
    may import; a name after ``from X import`` counts as the possible submodule ``X.name``.
    Source that does not parse imports nothing we can know."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return frozenset()
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in _import_time_nodes(tree.body):
        for name in _imported(node, package):
            parts = name.split(".")
            names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return frozenset(names)


def _import_time_nodes(body: Iterable[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of ``body`` that run when it does, nested blocks included, functions not."""
    todo = list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                todo.append(child)
            elif not isinstance(child, ast.expr):  # an except handler or a match case: its body runs too
                todo.extend(c for c in ast.iter_child_nodes(child) if isinstance(c, ast.stmt))


def _imported(node: ast.stmt, package: str) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parents = package.split(".") if package else []
            if node.level - 1 > len(parents):
                return
            anchor = ".".join(parents[:len(parents) - node.level + 1])
            base = f"{anchor}.{base}".strip(".") if base else anchor
        if base:
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
