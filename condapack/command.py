"""What a ``condapack`` subcommand is: one class with its flags, typed arguments and handler.

:mod:`condapack.cli` builds the parser from :data:`condapack.cli.SUBCOMMANDS` and runs
``Command.of(namespace, environ).run()`` for the one given. This module holds what the
command modules share (the :class:`Command` protocol, :class:`Terminal`, the ``--json``
and ``--verbose`` flags) and imports nothing of theirs, so no command module imports
:mod:`condapack.cli`.
"""

from __future__ import annotations

import argparse
from typing import ClassVar, Mapping, Protocol

import attrs

from .envvars import env_flag
from .report import Reporter

__all__ = ["Command", "Environ", "Terminal", "add_json", "add_quiet", "add_verbose"]

#: The process environment, where flags not given are read from (``CONDAPACK_*``).
Environ = Mapping[str, str]


class Command(Protocol):
    """One subcommand: ``name``, one-line ``help`` and ``description`` (its ``--help``'s first
    paragraph); ``configure`` adds its flags to its parser; ``of`` checks and types the parsed
    flags (bad values raise :class:`condapack.errors.CondaPackError`); ``run`` does the work
    and returns the exit status.
    """

    name: ClassVar[str]
    help: ClassVar[str]
    description: ClassVar[str]

    @staticmethod
    def configure(parser: argparse.ArgumentParser) -> None:
        """Add the command's flags and arguments."""

    @classmethod
    def of(cls, ns: argparse.Namespace, environ: Environ) -> Command:
        """The command with its arguments, from the parsed command line."""

    def run(self) -> int:
        """Do what the command line says; return the exit status."""


@attrs.frozen
class Terminal:
    """What to show: -q/--quiet (or CONDAPACK_QUIET=1), --json, -v/--verbose.

    ``--json`` silences the progress messages too, so stderr holds only warnings and, on
    failure, the one JSON error object.
    """

    quiet: bool = False
    json: bool = False
    verbose: bool = False

    @classmethod
    def of(cls, ns: argparse.Namespace, environ: Environ) -> Terminal:
        """Read the flags a command has, with ``CONDAPACK_QUIET`` for commands that have -q."""
        quiet = hasattr(ns, "quiet") and (ns.quiet or env_flag("CONDAPACK_QUIET", environ))
        json_ = getattr(ns, "json", False)
        return cls(quiet=quiet or json_, json=json_, verbose=getattr(ns, "verbose", False))

    def reporter(self, prog: str) -> Reporter:
        """Log messages and progress on stderr as these settings say."""
        return Reporter(enabled=not self.quiet, prog=prog, verbose=self.verbose)


def add_json(parser: argparse.ArgumentParser, what: str) -> None:
    """``--json``: ``what`` goes to stdout as JSON, and an error is a JSON object on stderr."""
    parser.add_argument("--json", action="store_true", help=f"{what} Errors become a JSON object on stderr.")


def add_verbose(parser: argparse.ArgumentParser) -> None:
    """``-v/--verbose``: debug detail on stderr."""
    parser.add_argument("--verbose", "-v", action="store_true", help="Also report debug detail on stderr.")


def add_quiet(parser: argparse.ArgumentParser) -> None:
    """``-q/--quiet``: only errors on stderr (also ``CONDAPACK_QUIET=1``)."""
    parser.add_argument("-q", "--quiet", action="store_true", help="Only report errors (CONDAPACK_QUIET=1).")
