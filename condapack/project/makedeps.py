"""Make dependency files: what a target's output depends on, in make's syntax."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import EnvError
from ..prefix import keep_unmanaged, read_prefix
from .config import Project, TargetSpec
from .plan import env_prefix

__all__ = ["dependencies", "render_deps"]


def dependencies(project: Project, target: TargetSpec) -> list[Path]:
    """The project file, the environment's metadata, its directories and unmanaged files.

    Directories change their mtime when entries are added or removed; conda-meta changes
    on every install; unmanaged files are listed one by one since nothing else tracks
    their edits. Managed files are covered by their packages' records.
    """
    prefix = env_prefix(project, target.env)
    reading = read_prefix(prefix)
    disk, owners, layout = reading.disk, reading.owners, reading.layout
    deps = {project.path, prefix, prefix / "conda-meta"}
    deps.update(prefix / "conda-meta" / p.name for p in (prefix / "conda-meta").glob("*.json"))
    for rel, entry in disk.items():
        parent = os.path.dirname(rel)
        while parent:
            deps.add(prefix / parent)
            parent = os.path.dirname(parent)
        if rel not in owners and entry.kind == "file" and keep_unmanaged(rel, owners, layout):
            deps.add(prefix / rel)
    return sorted(deps)


# Backslash-escaped for make: rule separators, comments, word breaks and wildcards.
_ESCAPED = re.compile(r"([:# *?\[\]])")
# What make's syntax has no escape for: assignments, recipe starts, line breaks.
_INEXPRESSIBLE = re.compile(r"[=;\x00-\x1f\x7f]|\\\Z")


def _escape(path: Path, cwd: Path) -> str:
    text = os.path.relpath(path, cwd) if str(path).startswith(str(cwd) + os.sep) else str(path)
    bad = _INEXPRESSIBLE.search(text)
    if bad:
        raise EnvError(f"make cannot name {text!r} in a dependency file (it contains {bad.group()!r}); "
                       "rename that file, or list the target's dependencies another way")
    return _ESCAPED.sub(r"\\\1", text.replace("$", "$$"))


def render_deps(project: Project, target: TargetSpec, cwd: Path, depfile: Path | None = None) -> str:
    """A rule ``OUTPUT [DEPFILE]: DEPS`` plus an empty rule per dependency (``gcc -MT -MP``).

    Naming the dependency file as a target too makes make regenerate it whenever the
    environment changes, so newly installed files join the list.
    """
    deps = [_escape(d, cwd) for d in dependencies(project, target)]
    heads = [_escape(target.output, cwd)] + ([_escape(depfile, cwd)] if depfile is not None else [])
    lines = [f"{' '.join(heads)}: \\"]
    lines += [f"  {d} \\" for d in deps[:-1]] + [f"  {deps[-1]}", ""]
    lines += [f"{d}:" for d in deps]
    return "\n".join(lines) + "\n"
