"""The project subcommands about one target's output: outputs, deps, sbom.

Each is one class (a :class:`condapack.command.Command`), like those of
:mod:`.project_cli`; requested data goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Optional

import attrs

from ..command import Environ, Terminal, add_json
from ..errors import ConfigError
from .project_cli import ProjectCommand, Selection, shown

if TYPE_CHECKING:
    from ..packing import ProgressFn
    from .config import Project, TargetSpec

__all__ = ["Outputs", "Deps", "Sbom"]


@attrs.frozen
class Outputs(ProjectCommand):
    """Print each selected target's output path (or, with --json, its name, env and format too)."""

    name: ClassVar[str] = "outputs"
    help: ClassVar[str] = "Print the output path of each target, one per line."
    description: ClassVar[str] = help

    selection: Selection
    terminal: Terminal

    @staticmethod
    def configure(parser: argparse.ArgumentParser) -> None:
        Selection.configure(parser)
        add_json(parser, "Print each target's name, environment, format and output as JSON.")

    @classmethod
    def of(cls, ns: argparse.Namespace, environ: Environ) -> Outputs:
        return cls(Selection.of(ns, environ), Terminal.of(ns, environ))

    def act(self, project: Project, progress: ProgressFn) -> int:
        """Print the paths on stdout."""
        targets = self.selection.targets_of(project)
        if self.terminal.json:
            doc = [{"target": t.name, "env": t.env, "format": t.format, "output": shown(t.output)} for t in targets]
            print(json.dumps({"targets": doc}, indent=2))
            return 0
        for target in targets:
            print(shown(target.output))
        return 0


def _one_target(command: str, selection: Selection, project: Project) -> TargetSpec:
    targets = selection.targets_of(project)
    if len(targets) != 1:
        names = ", ".join(t.name for t in targets)
        raise ConfigError(f"{command} takes one target, and {selection.targets[0]!r} names {len(targets)} "
                          f"({names}); name one as ENV:FORMAT")
    return targets[0]


@attrs.frozen
class Deps(ProjectCommand):
    """Print (or write) a make dependency file for one target."""

    name: ClassVar[str] = "deps"
    help: ClassVar[str] = "Print a make dependency file for one target."
    description: ClassVar[str] = help

    selection: Selection
    terminal: Terminal
    output: Optional[str]

    @staticmethod
    def configure(parser: argparse.ArgumentParser) -> None:
        Selection.configure(parser, nargs=1)
        parser.add_argument("-o", "--output", metavar="FILE", help="Write to FILE instead of standard output.")

    @classmethod
    def of(cls, ns: argparse.Namespace, environ: Environ) -> Deps:
        return cls(Selection.of(ns, environ), Terminal.of(ns, environ), ns.output)

    def act(self, project: Project, progress: ProgressFn) -> int:
        """The dependency file on stdout, or in ``--output`` (rewritten only when it changes)."""
        from ..output import write_if_changed
        from .makedeps import render_deps  # it reads the environment: other commands start without it

        target = _one_target(self.name, self.selection, project)
        depfile = Path(os.path.abspath(self.output)) if self.output else None
        text = render_deps(project, target, Path.cwd(), depfile)
        if self.output:
            out = Path(self.output)
            out.parent.mkdir(parents=True, exist_ok=True)
            write_if_changed(out, text.encode("utf-8", "surrogateescape"))
        else:
            sys.stdout.flush()
            sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
        return 0


@attrs.frozen
class Sbom(ProjectCommand):
    """Write the CycloneDX SBOM of one built target."""

    name: ClassVar[str] = "sbom"
    help: ClassVar[str] = "Write the CycloneDX SBOM of one built target beside its archive."
    description: ClassVar[str] = help

    selection: Selection
    terminal: Terminal
    output: Optional[str]

    @staticmethod
    def configure(parser: argparse.ArgumentParser) -> None:
        Selection.configure(parser, nargs=1)
        parser.add_argument("-o", "--output", metavar="FILE", help="Write to FILE instead of beside the archive.")

    @classmethod
    def of(cls, ns: argparse.Namespace, environ: Environ) -> Sbom:
        return cls(Selection.of(ns, environ), Terminal.of(ns, environ), ns.output)

    def act(self, project: Project, progress: ProgressFn) -> int:
        """Write the SBOM; print its path on stdout."""
        from ..digest import content_digest
        from ..sbom import write_sbom
        from .build import target_env

        target = _one_target(self.name, self.selection, project)
        if not target.output.exists():
            raise ConfigError(f"{target.name}: {shown(target.output)} is not built; run condapack build "
                              f"{target.name} first")
        env = target_env(project, target, {})
        path = write_sbom(env.packages, env.files, target.output, content_digest(target.output),
                          Path(self.output) if self.output else None)
        print(shown(path))
        return 0
