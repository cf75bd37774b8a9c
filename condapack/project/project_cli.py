"""The project subcommands that plan, lock and build, and what every project command shares.

Each is one class (a :class:`condapack.command.Command`): its flags, its typed arguments
and its handler (``outputs``, ``deps`` and ``sbom`` are in :mod:`.outputs_cli`). Like
:mod:`condapack.cli`, the handlers only turn results into text: requested data (the plan,
``--json`` documents) goes to stdout, messages to stderr. The project layer is imported
inside the handlers: the parser is built for every command line, and ``condapack pack``
does not need it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Optional

import attrs

from ..command import Environ, Terminal, add_json, add_quiet, add_verbose
from ..envvars import env_flag, env_text
from ..options import check_threads, env_threads

if TYPE_CHECKING:
    from ..cache import CacheSettings
    from ..packing import ProgressFn
    from .build import BuildResult
    from .config import Project, TargetSpec
    from .lock import JSON
    from .plan import BuildPlan

__all__ = ["Plan", "Lock", "Build", "Selection", "ProjectCommand", "shown"]

WOULD_BUILD = 2


@attrs.frozen
class Selection:
    """The project file (``-c``) and the targets named on the command line (all when none)."""

    config: Optional[str]
    targets: tuple[str, ...]

    @staticmethod
    def configure(parser: argparse.ArgumentParser, nargs: str | int = "*") -> None:
        """Add ``-c/--config`` and the ``TARGET`` arguments."""
        parser.add_argument("-c", "--config", metavar="PATH",
                            help="The project file (default: CONDAPACK_CONFIG, else the nearest condapack.toml "
                                 "upwards).")
        parser.add_argument("targets", nargs=nargs, metavar="TARGET",
                            help="ENV:FORMAT, ENV (all its targets) or an output path; default: all.")

    @classmethod
    def of(cls, ns: argparse.Namespace, environ: Environ) -> Selection:
        """``-c`` or ``CONDAPACK_CONFIG``, and the targets."""
        return cls(ns.config or env_text("CONDAPACK_CONFIG", environ), tuple(ns.targets))

    def project(self) -> Project:
        """Load the project file."""
        from .config import find_project, load_project

        return load_project(Path(self.config) if self.config else find_project(Path.cwd()))

    def targets_of(self, project: Project) -> list[TargetSpec]:
        """The project's targets these names select."""
        from .plan import select_targets

        return select_targets(project, self.targets)


class ProjectCommand:
    """What every project command does: load the project file, then act with a reporter.

    Subclasses are frozen attrs classes with ``selection`` and ``terminal`` fields.
    """

    selection: Selection
    terminal: Terminal

    def run(self) -> int:
        """Load the project, then :meth:`act` on it with progress on stderr."""
        project = self.selection.project()
        with self.terminal.reporter("condapack") as reporter:
            return self.act(project, reporter.progress)

    def act(self, project: Project, progress: ProgressFn) -> int:
        """The command's own work; returns the exit status."""
        raise NotImplementedError


def _add_locked(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--locked", action="store_true",
                        help="Fail if condapack.lock is missing or out of date; never write it (CONDAPACK_LOCKED=1).")


def _locked(ns: argparse.Namespace, environ: Environ) -> bool:
    return bool(ns.locked or env_flag("CONDAPACK_LOCKED", environ))


def shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it, else as it is."""
    cwd = Path.cwd()
    rel = os.path.relpath(path, cwd)
    return path.as_posix() if rel.startswith("..") else rel


def _print_json(doc: JSON) -> None:
    print(json.dumps(doc, indent=2))


@attrs.frozen
class Plan(ProjectCommand):
    """Show which targets would be built and why, as text or JSON."""

    name: ClassVar[str] = "plan"
    help: ClassVar[str] = "Show which targets would be built and why; change nothing."
    description: ClassVar[str] = help

    selection: Selection
    terminal: Terminal
    exit_code: bool

    @staticmethod
    def configure(parser: argparse.ArgumentParser) -> None:
        Selection.configure(parser)
        add_json(parser, "Print the plan as JSON.")
        parser.add_argument("--exit-code", action="store_true",
                            help="Exit with status 2 when something would be built (0 when all is up to date).")
        add_verbose(parser)

    @classmethod
    def of(cls, ns: argparse.Namespace, environ: Environ) -> Plan:
        return cls(Selection.of(ns, environ), Terminal.of(ns, environ), ns.exit_code)

    def act(self, project: Project, progress: ProgressFn) -> int:
        """Print the plan; with ``--exit-code``, exit 2 when something would be built."""
        from .plan import make_plan

        plan = make_plan(project, self.selection.targets)
        if self.terminal.json:
            doc = [{"target": s.target.name, "output": shown(s.target.output),
                    "status": "build" if s.build else "up to date", "reasons": list(s.reasons)} for s in plan.targets]
            _print_json({"targets": doc, "lock_changes": _lock_changes(plan)})
        else:
            width = max(len(s.target.name) for s in plan.targets)
            for status in plan.targets:
                verdict = "build     " if status.build else "up to date"
                reasons = "; ".join(status.reasons) if status.build else ""
                print(f"{status.target.name:<{width}}  {verdict}  {reasons}".rstrip())
        return WOULD_BUILD if self.exit_code and plan.to_build else 0


def _lock_changes(plan: BuildPlan) -> bool:
    return plan.previous is None or plan.previous.to_json() != plan.lock.to_json()


@attrs.frozen
class Lock(ProjectCommand):
    """Write (or with ``--locked``, check) ``condapack.lock``."""

    name: ClassVar[str] = "lock"
    help: ClassVar[str] = "Write condapack.lock for the project's environments and targets."
    description: ClassVar[str] = help

    selection: Selection
    terminal: Terminal
    locked: bool

    @staticmethod
    def configure(parser: argparse.ArgumentParser) -> None:
        Selection.configure(parser)
        _add_locked(parser)
        add_quiet(parser)
        add_json(parser, "Print the lock's path, whether it changed, its environments and targets as JSON.")
        add_verbose(parser)

    @classmethod
    def of(cls, ns: argparse.Namespace, environ: Environ) -> Lock:
        """Type the parsed flags, ``CONDAPACK_LOCKED`` for ``--locked``."""
        return cls(Selection.of(ns, environ), Terminal.of(ns, environ), _locked(ns, environ))

    def act(self, project: Project, progress: ProgressFn) -> int:
        """Write or check the lock; say which on stderr (or as JSON on stdout)."""
        from .build import check_locked
        from .commit import write_lock
        from .plan import make_plan

        plan = make_plan(project, self.selection.targets)
        if self.locked:
            check_locked(plan)
            status = "up to date"
            message = f"{project.lock_path.name} is up to date"
        else:
            status = "wrote" if write_lock(plan) else "unchanged"
            message = f"{'wrote' if status == 'wrote' else 'unchanged:'} {shown(project.lock_path)}"
        if self.terminal.json:
            _print_json({"lock": shown(project.lock_path), "status": status, "environments": sorted(plan.envs),
                         "targets": [s.target.name for s in plan.targets]})
        elif not self.terminal.quiet:
            print(message, file=sys.stderr)
        return 0


@attrs.frozen
class Build(ProjectCommand):
    """Build the out-of-date targets (or fetch them from the cache); report each."""

    name: ClassVar[str] = "build"
    help: ClassVar[str] = "Build out-of-date targets, update the lock and SHA256SUMS."
    description: ClassVar[str] = help

    selection: Selection
    terminal: Terminal
    locked: bool
    force: bool
    threads: Optional[int]
    cache: Optional[str]
    no_cache: bool
    cache_write: bool
    require_cache: bool
    report: bool

    @staticmethod
    def configure(parser: argparse.ArgumentParser) -> None:
        Selection.configure(parser)
        _add_locked(parser)
        parser.add_argument("-f", "--force", action="store_true", help="Rebuild even up-to-date targets.")
        parser.add_argument("-j", "--n-threads", metavar="N", type=int, default=None,
                            help="Threads for every target, overriding the project file (-1: all cpus; "
                                 "CONDAPACK_THREADS). Threads never change an archive's bytes.")
        add_quiet(parser)
        add_json(parser, "Print each target (built, fetched or up to date, uploaded, output, sha256, size, "
                         "seconds) as JSON.")
        add_verbose(parser)
        parser.add_argument("--cache", metavar="URL",
                            help="Shared artifact cache: s3://bucket/prefix or file:///shared/dir "
                                 "(default: CONDAPACK_CACHE, else [cache] url).")
        parser.add_argument("--no-cache", action="store_true", help="Use no artifact cache.")
        parser.add_argument("--cache-write", action="store_true",
                            help="Upload what is built to the cache (as [cache] write = true does).")
        parser.add_argument("--require-cache", action="store_true",
                            help="Fail when a target to build is not in the cache, instead of packing it.")
        parser.add_argument("--report", action="store_true",
                            help="Write each archive's HTML size report beside it (ARCHIVE.size.html, listed in "
                                 "SHA256SUMS); an up-to-date archive without one gets one.")

    @classmethod
    def of(cls, ns: argparse.Namespace, environ: Environ) -> Build:
        """Type the parsed flags, filling what was not given from ``CONDAPACK_*``."""
        threads = ns.n_threads if ns.n_threads is not None else env_threads(environ)
        if threads is not None:
            check_threads(threads)
        return cls(Selection.of(ns, environ), Terminal.of(ns, environ), _locked(ns, environ), ns.force, threads,
                   ns.cache or env_text("CONDAPACK_CACHE", environ), ns.no_cache, ns.cache_write, ns.require_cache,
                   ns.report)

    def act(self, project: Project, progress: ProgressFn) -> int:
        """Build; report each target and the counts on stderr (or everything as JSON on stdout)."""
        from .build import build

        start = time.monotonic()
        results = build(project, self.selection.targets, force=self.force, locked=self.locked, progress=progress,
                        threads=self.threads, cache=self._cache_settings(project), report=self.report)
        counts = {s: sum(r.status == s for r in results) for s in ("built", "fetched", "up to date")}
        if self.terminal.json:
            _print_json({"targets": [_build_doc(r) for r in results], "built": counts["built"],
                         "fetched": counts["fetched"], "up_to_date": counts["up to date"],
                         "seconds": round(time.monotonic() - start, 3)})
        elif not self.terminal.quiet:
            for result in results:
                print(_report(result), file=sys.stderr)
            fetched = f"{counts['fetched']} fetched, " if counts["fetched"] else ""
            print(f"{counts['built']} built, {fetched}{counts['up to date']} up to date in "
                  f"{time.monotonic() - start:.1f}s", file=sys.stderr)
        return 0

    def _cache_settings(self, project: Project) -> CacheSettings:
        """``--no-cache`` over ``--cache``/``CONDAPACK_CACHE`` over ``[cache]``."""
        settings = project.cache
        url = None if self.no_cache else (self.cache or settings.url)
        return attrs.evolve(settings, url=url, write=settings.write or self.cache_write, require=self.require_cache)


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"


def _report(result: BuildResult) -> str:
    where = f"{result.target.name} -> {shown(result.target.output)}"
    if result.status == "up to date":
        return f"up to date {where}"
    verb = "fetched   " if result.status == "fetched" else "built     "
    how = "from the cache" if result.status == "fetched" else "; ".join(result.reasons)
    uploaded = ", uploaded" if result.uploaded else ""
    return f"{verb} {where} ({_size(result.size)}, {result.seconds:.1f}s{uploaded}): {how}"


def _build_doc(result: BuildResult) -> dict[str, JSON]:
    return {"target": result.target.name, "status": result.status, "uploaded": result.uploaded,
            "output": shown(result.target.output), "sha256": result.sha256, "size": result.size,
            "seconds": round(result.seconds, 3), "reasons": list(result.reasons) if result.made else []}
