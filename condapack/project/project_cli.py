"""The project subcommands of ``condapack``: plan, lock, build, outputs, deps.

Like :mod:`condapack.cli`, this only turns results into text: requested data (the
plan, output paths, dependency files, ``--json`` documents) goes to stdout, messages to
stderr.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from ..cache import CacheSettings
from ..cli import ProjectArgs
from ..digest import content_digest
from ..errors import ConfigError
from ..output import write_if_changed
from .build import BuildResult, build, check_locked, target_env, write_lock
from .config import Project, TargetSpec, find_project, load_project
from .lock import JSON
from .plan import BuildPlan, make_plan, select_targets

if TYPE_CHECKING:
    from ..packing import ProgressFn

__all__ = ["run"]

WOULD_BUILD = 2


def _project(args: ProjectArgs) -> Project:
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


def _print_json(doc: JSON) -> None:
    print(json.dumps(doc, indent=2))


def run(args: ProjectArgs) -> int:
    """Dispatch one project subcommand."""
    project = _project(args)
    command = {"plan": _plan, "lock": _lock, "outputs": _outputs, "deps": _deps, "sbom": _sbom}
    with args.terminal.reporter("condapack") as reporter:
        if args.command == "build":
            return _build(project, args, reporter.progress)
        return command[args.command](project, args)


def _plan(project: Project, args: ProjectArgs) -> int:
    plan = make_plan(project, args.targets)
    if args.terminal.json:
        doc = [{"target": s.target.name, "output": _shown(s.target.output),
                "status": "build" if s.build else "up to date", "reasons": list(s.reasons)} for s in plan.targets]
        _print_json({"targets": doc, "lock_changes": _lock_changes(plan)})
    else:
        width = max(len(s.target.name) for s in plan.targets)
        for status in plan.targets:
            verdict = "build     " if status.build else "up to date"
            reasons = "; ".join(status.reasons) if status.build else ""
            print(f"{status.target.name:<{width}}  {verdict}  {reasons}".rstrip())
    return WOULD_BUILD if args.exit_code and plan.to_build else 0


def _lock_changes(plan: BuildPlan) -> bool:
    return plan.previous is None or plan.previous.to_json() != plan.lock.to_json()


def _lock(project: Project, args: ProjectArgs) -> int:
    plan = make_plan(project, args.targets)
    if args.locked:
        check_locked(plan)
        status = "up to date"
        message = f"{project.lock_path.name} is up to date"
    else:
        status = "wrote" if write_lock(plan) else "unchanged"
        message = f"{'wrote' if status == 'wrote' else 'unchanged:'} {_shown(project.lock_path)}"
    if args.terminal.json:
        _print_json({"lock": _shown(project.lock_path), "status": status, "environments": sorted(plan.envs),
                     "targets": [s.target.name for s in plan.targets]})
    elif not args.terminal.quiet:
        print(message, file=sys.stderr)
    return 0


def _report(result: BuildResult) -> str:
    where = f"{result.target.name} -> {_shown(result.target.output)}"
    if result.status == "up to date":
        return f"up to date {where}"
    verb = "fetched   " if result.status == "fetched" else "built     "
    how = "from the cache" if result.status == "fetched" else "; ".join(result.reasons)
    uploaded = ", uploaded" if result.uploaded else ""
    return f"{verb} {where} ({_size(result.size)}, {result.seconds:.1f}s{uploaded}): {how}"


def _build_doc(result: BuildResult) -> dict[str, JSON]:
    return {"target": result.target.name, "status": result.status, "uploaded": result.uploaded,
            "output": _shown(result.target.output), "sha256": result.sha256, "size": result.size,
            "seconds": round(result.seconds, 3), "reasons": list(result.reasons) if result.built else []}


def _cache_settings(project: Project, args: ProjectArgs) -> CacheSettings:
    """``--no-cache`` over ``--cache``/``CONDAPACK_CACHE`` over ``[cache]``."""
    settings = project.cache
    url = None if args.no_cache else (args.cache or settings.url)
    return attrs.evolve(settings, url=url, write=settings.write or args.cache_write, require=args.require_cache)


def _build(project: Project, args: ProjectArgs, progress: ProgressFn) -> int:
    start = time.monotonic()
    results = build(project, args.targets, force=args.force, locked=args.locked, progress=progress,
                    threads=args.threads, cache=_cache_settings(project, args), report=args.report)
    counts = {s: sum(r.status == s for r in results) for s in ("built", "fetched", "up to date")}
    if args.terminal.json:
        _print_json({"targets": [_build_doc(r) for r in results], "built": counts["built"],
                     "fetched": counts["fetched"], "up_to_date": counts["up to date"],
                     "seconds": round(time.monotonic() - start, 3)})
    elif not args.terminal.quiet:
        for result in results:
            print(_report(result), file=sys.stderr)
        fetched = f"{counts['fetched']} fetched, " if counts["fetched"] else ""
        print(f"{counts['built']} built, {fetched}{counts['up to date']} up to date in "
              f"{time.monotonic() - start:.1f}s", file=sys.stderr)
    return 0


def _outputs(project: Project, args: ProjectArgs) -> int:
    targets = select_targets(project, args.targets)
    if args.terminal.json:
        _print_json({"targets": [{"target": t.name, "env": t.env, "format": t.format, "output": _shown(t.output)}
                                 for t in targets]})
        return 0
    for target in targets:
        print(_shown(target.output))
    return 0


def _one_target(project: Project, args: ProjectArgs) -> TargetSpec:
    targets = select_targets(project, args.targets)
    if len(targets) != 1:
        names = ", ".join(t.name for t in targets)
        raise ConfigError(f"{args.command} takes one target, and {args.targets[0]!r} names {len(targets)} "
                          f"({names}); name one as ENV:FORMAT")
    return targets[0]


def _sbom(project: Project, args: ProjectArgs) -> int:
    from ..sbom import write_sbom

    target = _one_target(project, args)
    if not target.output.exists():
        raise ConfigError(f"{target.name}: {_shown(target.output)} is not built; run condapack build "
                          f"{target.name} first")
    env = target_env(project, target, {})
    path = write_sbom(env.packages, env.files, target.output, content_digest(target.output),
                      Path(args.output) if args.output else None)
    print(_shown(path))
    return 0


def _deps(project: Project, args: ProjectArgs) -> int:
    target = _one_target(project, args)
    depfile = Path(os.path.abspath(args.output)) if args.output else None
    from .makedeps import render_deps  # it reads the environment: other commands start without it

    text = render_deps(project, target, Path.cwd(), depfile)
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_if_changed(out, text.encode("utf-8", "surrogateescape"))
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
    return 0
