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
from typing import TYPE_CHECKING, ClassVar, Optional, TypeVar

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


_One = TypeVar("_One", bound="_OneTarget")


@attrs.frozen
class _OneTarget(ProjectCommand):
    """A command about one target, and where to write what it makes (``-o``)."""

    name: ClassVar[str]

    selection: Selection
    terminal: Terminal
    output: Optional[str]

    @staticmethod
    def configure_one(parser: argparse.ArgumentParser, output_help: str) -> None:
        """The one ``TARGET``, ``-c`` and ``-o FILE``."""
        Selection.configure(parser, nargs=1)
        parser.add_argument("-o", "--output", metavar="FILE", help=output_help)

    @classmethod
    def of(cls: type[_One], ns: argparse.Namespace, environ: Environ) -> _One:
        return cls(Selection.of(ns, environ), Terminal.of(ns, environ), ns.output)

    def target(self, project: Project) -> TargetSpec:
        """The one target the command line names (an environment with one format counts)."""
        targets = self.selection.targets_of(project)
        if len(targets) != 1:
            names = ", ".join(t.name for t in targets)
            raise ConfigError(f"{self.name} takes one target, and {self.selection.targets[0]!r} names {len(targets)} "
                              f"({names}); name one as ENV:FORMAT")
        return targets[0]


@attrs.frozen
class Deps(_OneTarget):
    """Print (or write) a make dependency file for one target."""

    name: ClassVar[str] = "deps"
    help: ClassVar[str] = "Print a make dependency file for one target."
    description: ClassVar[str] = help

    @staticmethod
    def configure(parser: argparse.ArgumentParser) -> None:
        _OneTarget.configure_one(parser, "Write to FILE instead of standard output.")

    def act(self, project: Project, progress: ProgressFn) -> int:
        """The dependency file on stdout, or in ``--output`` (rewritten only when it changes)."""
        from ..output import write_if_changed
        from .makedeps import render_deps  # it reads the environment: other commands start without it

        target = self.target(project)
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
class Sbom(_OneTarget):
    """Write the CycloneDX SBOM of one built target."""

    name: ClassVar[str] = "sbom"
    help: ClassVar[str] = "Write the CycloneDX SBOM of one built target beside its archive."
    description: ClassVar[str] = help

    @staticmethod
    def configure(parser: argparse.ArgumentParser) -> None:
        _OneTarget.configure_one(parser, "Write to FILE instead of beside the archive.")

    def act(self, project: Project, progress: ProgressFn) -> int:
        """Write the SBOM; print its path on stdout."""
        from ..digest import content_digest
        from ..sbom import write_sbom
        from .produce import target_env

        target = self.target(project)
        if not target.output.exists():
            raise ConfigError(f"{target.name}: {shown(target.output)} is not built; run condapack build "
                              f"{target.name} first")
        env = target_env(project, target, {})
        path = write_sbom(env.packages, env.files, target.output, content_digest(target.output),
                          Path(self.output) if self.output else None)
        print(shown(path))
        return 0
