"""Slimming presets: named, versioned pattern sets of files an environment can run without.

A preset's patterns are gitignore-style, matched against paths relative to the prefix.
A preset's version changes whenever its patterns change, so an archive's metadata (and
the size report) says exactly which rule removed a file. :func:`slim_files` decides what
to remove and what to keep anyway (the guard rails); it writes nothing.
"""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING, Iterable, Mapping, Optional, Sequence

import attrs

from .elf import needed_libraries
from .errors import CondaPackError, did_you_mean
from .pyimports import module_name, top_level_imports

if TYPE_CHECKING:
    from .prefix import File

__all__ = ["Preset", "PRESETS", "SLIM_FILE", "Slimmed", "Removal", "parse_slim", "preset_of", "slim_files",
           "compile_patterns", "preset_problem"]

#: Where an archive lists what slimming removed, relative to the environment.
SLIM_FILE = "conda-meta/condapack/slim.json"


@attrs.frozen
class Preset:
    """One slimming preset: what it removes, as gitignore-style patterns."""

    name: str
    version: int
    help: str
    patterns: tuple[str, ...]


_PRESET_LIST = (
    Preset("bytecode", 1, "compiled Python (.pyc) whose source is kept; Python recompiles it on import",
           ("*.pyc", "*.pyo")),
    Preset("tests", 1, "test suites: every tests/ and test/ directory (Python's own test package too)",
           ("tests/", "test/", "idle_test/")),
    Preset("docs", 1, "documentation: man and info pages, share/doc, gtk-doc, help",
           ("/man/", "/doc/", "/docs/", "share/man/", "share/info/", "share/doc/", "share/gtk-doc/",
            "share/help/")),
    Preset("headers", 1, "C and C++ headers and Cython declarations (for building against the env only)",
           ("/include/", "*.h", "*.hh", "*.hpp", "*.hxx", "*.pxd")),
    Preset("static", 1, "static libraries and libtool archives (for linking against the env only)",
           ("*.a", "*.la")),
    Preset("debug", 1, "separate debug symbols", ("*.debug", "/lib/debug/", "*.dSYM/", "*.pdb")),
    Preset("locales", 1, "message translations", ("share/locale/", "*.mo")),
    Preset("examples", 1, "example code and data", ("examples/", "share/examples/")),
    Preset("caches", 1, "package and download caches left in the environment",
           ("/pkgs/", ".cache/", "*.conda_trash")),
)

#: Every preset by name, in the order a file's kind is decided.
PRESETS: Mapping[str, Preset] = {p.name: p for p in _PRESET_LIST}


def compile_patterns(patterns: Iterable[str]) -> re.Pattern[str]:
    """One regular expression matching a path when any of the gitignore-style ``patterns`` does."""
    # pathspec names a group in each pattern's expression; one alternation needs them anonymous
    regexes = ["(?:" + re.sub(r"\(\?P<\w+>", "(?:", _regex_of(line)) + ")" for line in patterns]
    return re.compile("|".join(regexes) or "(?!)")


def _regex_of(line: str) -> str:
    """The regular expression of one gitignore-style pattern that selects files."""
    import pathspec  # only slimming and size pay for importing it

    try:
        compiled = pathspec.GitIgnoreSpec.from_lines([line]).patterns
        if len(compiled) == 1 and compiled[0].include and compiled[0].regex is not None:
            return str(re.compile(compiled[0].regex.pattern).pattern)
    except (ValueError, re.error):
        pass
    raise CondaPackError(f"--exclude {line!r}: not a pattern that selects files; give a "
                         "gitignore-style pattern such as '*.a' or 'share/doc/'")


_COMPILED: dict[tuple[str, ...], re.Pattern[str]] = {}


def _matcher(names: tuple[str, ...]) -> re.Pattern[str]:
    """One expression for the presets ``names``, each a named group: alternatives are tried
    in order, so the group that matched is the first preset that matches."""
    if names not in _COMPILED:
        groups = [f"(?P<{name}>{compile_patterns(PRESETS[name].patterns).pattern})" for name in names]
        _COMPILED[names] = re.compile("|".join(groups) or "(?!)")
    return _COMPILED[names]


def preset_of(path: str, names: Sequence[str] = tuple(PRESETS)) -> Optional[str]:
    """The first preset of ``names`` whose patterns match ``path``."""
    found = _matcher(tuple(names)).match(path)
    return found.lastgroup if found else None


def preset_problem(name: str) -> Optional[str]:
    """What is wrong with a preset name (the flag's and the key's rule), or None."""
    if name in PRESETS:
        return None
    return f"unknown preset {name!r}{did_you_mean(name, list(PRESETS), known='presets', shown=len(PRESETS))}"


def parse_slim(value: str) -> tuple[str, ...]:
    """``"tests,docs"`` -> the preset names in declaration order; an unknown name is an error."""
    names = [n.strip() for n in value.split(",") if n.strip()]
    for name in names:
        problem = preset_problem(name)
        if problem:
            raise CondaPackError(f"--slim: {problem}")
    return tuple(n for n in PRESETS if n in names)


@attrs.frozen
class Removal:
    """One file slimming removed (or kept by a guard rail, then ``kept`` says why)."""

    path: str
    preset: str
    size: int
    package: Optional[str]
    kept: str = ""


@attrs.frozen
class Slimmed:
    """The files left after slimming, what was removed, and what a guard rail kept."""

    files: tuple[File, ...]
    removed: tuple[Removal, ...]
    guarded: tuple[Removal, ...]

    def metadata(self, names: Sequence[str]) -> bytes:
        """The archive's record of the slimming (``SLIM_FILE``), canonical JSON."""
        import json

        doc = {"presets": {n: {"version": PRESETS[n].version, "patterns": list(PRESETS[n].patterns)}
                           for n in names},
               "removed": [[r.path, r.preset, r.size, r.package] for r in self.removed],
               "kept": [[r.path, r.preset, r.kept] for r in self.guarded]}
        return (json.dumps(doc, sort_keys=True, indent=1) + "\n").encode()


def slim_files(files: Sequence[File], names: Sequence[str], entry_points: frozenset[str]) -> Slimmed:
    """Split ``files`` into kept and removed by the presets ``names``, with the guard rails:
    entry points, ``.pth`` files, sourceless bytecode, modules a kept module or entry point
    imports at import time, and shared libraries a kept file links to (``DT_NEEDED``) stay."""
    candidates: dict[str, tuple[File, str]] = {}
    for f in files:
        preset = preset_of(f.target, names) if f.kind != "dir" else None
        if preset is not None:
            candidates[f.target] = (f, preset)
    guarded = {path: reason for path, (f, _) in candidates.items()
               if (reason := _static_guard(f, entry_points, names)) is not None}
    guarded.update(_imported(files, candidates, guarded, entry_points))
    guarded.update(_linked(files, candidates, guarded))
    removed = tuple(Removal(p, preset, f.size, f.package) for p, (f, preset) in sorted(candidates.items())
                    if p not in guarded)
    kept_anyway = tuple(Removal(p, candidates[p][1], candidates[p][0].size, candidates[p][0].package, reason)
                        for p, reason in sorted(guarded.items()))
    gone = {r.path for r in removed}
    return Slimmed(tuple(f for f in files if f.target not in gone), removed, kept_anyway)


def _static_guard(f: File, entry_points: frozenset[str], names: Sequence[str]) -> Optional[str]:
    """Why a file must stay whatever links to what (None: it may go)."""
    if f.target in entry_points:
        return "an entry point"
    if f.target.endswith(".pth"):
        return "a .pth file (read at start-up)"
    others = [n for n in names if n != "bytecode"]  # a sourceless .pyc in a removed tests/ goes with it
    if f.target.endswith((".pyc", ".pyo")) and _py_source(f.target) is None and not preset_of(f.target, others):
        return "bytecode without a source (it is the module)"
    return None


def _py_source(pyc: str) -> Optional[str]:
    """``pkg/__pycache__/mod.cpython-311.pyc`` -> ``pkg/mod.py``; a sourceless ``mod.pyc`` -> None."""
    head, sep, name = pyc.rpartition("__pycache__/")
    return head + name.split(".", 1)[0] + ".py" if sep else None


def _imported(files: Sequence[File], candidates: Mapping[str, tuple[File, str]], guarded: Mapping[str, str],
              entry_points: frozenset[str]) -> dict[str, str]:
    """Candidate modules a kept module or entry point imports at import time, to a fixed point
    (a kept module's own imports count)."""
    modules: dict[str, list[str]] = {}
    for path in candidates:
        if (name := module_name(path)) is not None:
            modules.setdefault(name, []).append(path)
    if not modules:
        return {}
    mention: Optional[re.Pattern[bytes]] = _mention(modules)
    out: dict[str, str] = {}
    todo = [f for f in files if (f.target not in candidates or f.target in guarded)
            and (f.target.endswith(".py") or f.target in entry_points)]
    while todo:
        needs = {(name, f.target) for f in todo for name in _imports_of(f, mention)}
        mention = None  # a newly kept module may import its siblings relatively: read it whole
        todo = []
        for name, user in sorted(needs):
            for path in modules.get(name, ()):
                if path not in guarded and path not in out:
                    out[path] = f"imported by {user}"
                    todo.append(candidates[path][0])
    return out


def _mention(modules: Mapping[str, object]) -> re.Pattern[bytes]:
    """A cheap look before parsing: an import statement that can reach a candidate module names
    the outermost candidate on its dotted path (``tests`` for ``pkg.tests.fixtures``), unless it
    is itself inside that candidate package."""
    outermost = set()
    for name in modules:
        parts = name.split(".")
        outermost.add(next(parts[i - 1] for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in modules))
    names = "|".join(sorted(map(re.escape, outermost)))
    return re.compile(rf"\b(?:from|import)[ \t][^;\n]*(?:\([^)]*)?\b(?:{names})\b".encode())


def _imports_of(f: File, mention: Optional[re.Pattern[bytes]]) -> frozenset[str]:
    """What importing (or running) the Python file ``f`` imports, when ``mention`` finds that it
    may import a candidate (always, without one)."""
    if f.kind != "file":
        return frozenset()
    try:
        with open(f.source, "rb") as fh:
            source = fh.read()
    except OSError:
        return frozenset()
    if mention is not None and not mention.search(source):
        return frozenset()
    name = module_name(f.target) or ""
    return top_level_imports(source, name, f.target.endswith("/__init__.py"))


def _linked(files: Sequence[File], candidates: Mapping[str, tuple[File, str]],
            guarded: Mapping[str, str]) -> dict[str, str]:
    """Candidates a kept ELF file needs, to a fixed point (a kept library's own needs count)."""
    by_name: dict[str, list[str]] = {}
    for path, (f, _) in candidates.items():
        by_name.setdefault(posixpath.basename(path), []).append(path)
        if f.kind == "symlink" and f.link_target and "/" not in f.link_target:
            by_name.setdefault(posixpath.basename(path), []).append(posixpath.join(posixpath.dirname(path),
                                                                                   f.link_target))
    if not by_name:
        return {}
    out: dict[str, str] = {}
    todo = [f for f in files if f.target not in candidates or f.target in guarded]
    while todo:
        needs = {(name, f.target) for f in todo if _maybe_elf(f) for name in needed_libraries(f.source)}
        todo = []
        for name, user in sorted(needs):
            for path in by_name.get(name, ()):
                if path in candidates and path not in guarded and path not in out:
                    out[path] = f"needed by {user}"
                    todo.append(candidates[path][0])
    return out


def _maybe_elf(f: File) -> bool:
    return f.kind == "file" and (bool(f.mode & 0o111) or ".so" in posixpath.basename(f.target))


def entry_points_of(path_types: Iterable[tuple[str, str]]) -> frozenset[str]:
    """The paths whose conda path type marks an entry point."""
    return frozenset(path for path, kind in path_types if "entry_point" in kind)
