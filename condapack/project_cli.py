"""The project subcommands of ``condapack``: plan, lock, build, outputs, deps.

Like :mod:`condapack.cli`, this only parses results into text: requested data (the
plan, output paths, dependency files) goes to stdout, messages to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .build import BuildResult, build, check_locked, write_lock
from .config import Project, find_project, load_project
from .makedeps import render_deps
from .errors import ConfigError
from .lock import dump_lock, write_if_changed
from .plan import Plan, make_plan, select_targets
from .report import Reporter

__all__ = ["run"]

WOULD_BUILD = 2


def _project(args: argparse.Namespace) -> Project:
    path = Path(args.config) if args.config else find_project(Path.cwd())
    return load_project(path)


def _shown(path: Path) -> str:
    cwd = Path.cwd()
    rel = os.path.relpath(path, cwd)
    return path.as_posix() if rel.startswith("..") else rel


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"


def run(args: argparse.Namespace) -> int:
    """Dispatch one project subcommand."""
    project = _project(args)
    command = {"plan": _plan, "lock": _lock, "build": _build, "outputs": _outputs, "deps": _deps}
    return command[args.command](project, args)


def _plan(project: Project, args: argparse.Namespace) -> int:
    plan = make_plan(project, args.targets)
    if args.json:
        doc = [{"target": s.target.name, "output": _shown(s.target.output),
                "status": "build" if s.build else "up to date", "reasons": list(s.reasons)} for s in plan.targets]
        print(json.dumps({"targets": doc, "lock_changes": _lock_changes(plan)}, indent=2))
    else:
        width = max(len(s.target.name) for s in plan.targets)
        for status in plan.targets:
            verdict = "build     " if status.build else "up to date"
            reasons = "; ".join(status.reasons) if status.build else ""
            print(f"{status.target.name:<{width}}  {verdict}  {reasons}".rstrip())
    return WOULD_BUILD if args.exit_code and plan.to_build else 0


def _lock_changes(plan: Plan) -> bool:
    return plan.previous is None or dump_lock(plan.previous) != dump_lock(plan.lock)


def _lock(project: Project, args: argparse.Namespace) -> int:
    plan = make_plan(project, args.targets)
    if args.locked:
        check_locked(plan)
        print(f"{project.lock_path.name} is up to date", file=sys.stderr)
        return 0
    written = write_lock(plan)
    print(f"{'wrote' if written else 'unchanged:'} {_shown(project.lock_path)}", file=sys.stderr)
    return 0


def _report(result: BuildResult) -> str:
    name = result.target.name
    if result.built:
        return (f"built      {name} -> {_shown(result.target.output)} ({_size(result.size)}, "
                f"{result.seconds:.1f}s): {'; '.join(result.reasons)}")
    return f"up to date {name} -> {_shown(result.target.output)}"


def _build(project: Project, args: argparse.Namespace) -> int:
    start = time.monotonic()
    with Reporter(enabled=not args.quiet) as reporter:
        results = build(project, args.targets, force=args.force, locked=args.locked, progress=reporter.progress)
    if not args.quiet:
        for result in results:
            print(_report(result), file=sys.stderr)
        count = sum(r.built for r in results)
        print(f"{count} built, {len(results) - count} up to date in {time.monotonic() - start:.1f}s",
              file=sys.stderr)
    return 0


def _outputs(project: Project, args: argparse.Namespace) -> int:
    for target in select_targets(project, args.targets):
        print(_shown(target.output))
    return 0


def _deps(project: Project, args: argparse.Namespace) -> int:
    targets = select_targets(project, args.targets)
    if len(targets) != 1:
        names = ", ".join(t.name for t in targets)
        raise ConfigError(f"deps takes one target, and {args.targets[0]!r} names {len(targets)} ({names}); "
                          "name one as ENV:FORMAT")
    depfile = Path(os.path.abspath(args.output)) if args.output else None
    text = render_deps(project, targets[0], Path.cwd(), depfile)
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_if_changed(out, text.encode())
    else:
        sys.stdout.write(text)
    return 0
