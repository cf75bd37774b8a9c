"""Command lines: ``conda-pack`` (the reference's flags) and ``condapack`` (subcommands).

This module only parses arguments and dispatches: each subcommand is one class in
:data:`SUBCOMMANDS` (a :class:`condapack.command.Command`) that declares its flags, types
them and runs. The CLI owns the terminal (stderr for messages and progress, stdout for
``--json`` and other requested data) and turns :class:`CondaPackError` into one line (a
JSON object with ``--json``) and exit code 1.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from typing import Callable, Optional, Sequence

from ._version import version_line
from .command import Command
from .envvars import ENV_VARS
from .errors import CondaPackError
from .locate import find_prefix
from .pack_cli import DESCRIPTION, Locator, Pack
from .project.outputs_cli import Deps, Outputs, Sbom
from .project.project_cli import Build, Lock, Plan
from .push_cli import Push
from .size_cli import Size

__all__ = ["conda_pack_main", "main", "EXIT_CODES", "SUBCOMMANDS", "build_parser", "build_conda_pack_parser"]

#: Exit status -> meaning, for every command (the ``--help`` epilog and the README).
EXIT_CODES = {
    0: "success",
    1: "an error, reported on one line on stderr (a JSON object with --json)",
    2: "a bad command line; plan --exit-code: something would be built",
    130: "interrupted (Ctrl-C)",
    141: "standard output was closed early (broken pipe)",
}


def _epilog(variables: Sequence[str]) -> str:
    codes = "\n".join(f"  {code:<5}{meaning}" for code, meaning in EXIT_CODES.items())
    width = max(19, *(len(name) + 2 for name in variables))  # the name, then two spaces at least
    env = "\n".join(f"  {name:<{width}}{ENV_VARS[name]}" for name in variables)
    return f"exit status:\n{codes}\n\nenvironment variables (a flag on the command line wins):\n{env}"


PACK_VARIABLES = ("CONDAPACK_QUIET", "CONDAPACK_THREADS")


def build_conda_pack_parser(prog: str = "conda-pack") -> argparse.ArgumentParser:
    """The ``conda-pack`` parser, flag for flag (``conda pack`` shows it as its own)."""
    parser = argparse.ArgumentParser(
        prog=prog, add_help=False, allow_abbrev=False, epilog=_epilog(PACK_VARIABLES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=DESCRIPTION)
    Pack.configure(parser)
    parser.add_argument("--help", "-h", action="help", help="Show this help message then exit")
    parser.add_argument("--version", action="store_true", help="Show version then exit")
    return parser


#: Every ``condapack`` subcommand, in ``--help`` order: the one place they are wired.
SUBCOMMANDS: tuple[type[Command], ...] = (Pack, Plan, Lock, Build, Outputs, Deps, Sbom, Push, Size)


def build_parser() -> argparse.ArgumentParser:
    """The ``condapack`` parser with its subcommands."""
    parser = argparse.ArgumentParser(
        prog="condapack", allow_abbrev=False, epilog=_epilog(tuple(ENV_VARS)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Pack conda environments into relocatable, reproducible archives.")
    parser.add_argument("--version", action="version", version=version_line("condapack"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in SUBCOMMANDS:
        cmd = sub.add_parser(command.name, help=command.help, description=command.description, allow_abbrev=False,
                             epilog=_epilog(tuple(ENV_VARS)), formatter_class=argparse.RawDescriptionHelpFormatter)
        command.configure(cmd)
    return parser


def _guarded(prog: str, error_prefix: str, ns: argparse.Namespace, action: Callable[[], int]) -> int:
    try:
        return action()
    except CondaPackError as exc:
        if getattr(ns, "json", False):
            print(json.dumps({"error": str(exc), "type": type(exc).__name__, "exit_code": 1}), file=sys.stderr)
        else:
            print(f"{error_prefix}{exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def conda_pack_main(argv: Optional[Sequence[str]] = None, *, prog: str = "conda-pack",
                    locate: Locator = find_prefix) -> int:
    """Entry point of ``conda-pack`` (and, with conda's prefix lookup, of ``conda pack``)."""
    ns = build_conda_pack_parser(prog).parse_args(argv)
    if ns.version:
        print(version_line("conda-pack"))
        return 0
    return _guarded(prog, "CondaPackError: ", ns, lambda: Pack.of(ns, os.environ, prog, locate).run())


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``condapack``."""
    ns = build_parser().parse_args(argv)
    command = next(c for c in SUBCOMMANDS if c.name == ns.command)
    return _guarded("condapack", "condapack: error: ", ns, lambda: command.of(ns, os.environ).run())


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _exit(run: Callable[[], int]) -> None:
    # What `timeout`, `docker stop` and CI cancellation send: clean up as for Ctrl-C.
    for name in ("SIGTERM", "SIGHUP"):  # Windows has no SIGHUP
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _interrupted)
    try:
        code = run()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 141
    sys.exit(code)


def conda_pack_entry() -> None:
    """Console script wrapper for ``conda-pack``."""
    _exit(conda_pack_main)


def entry() -> None:
    """Console script wrapper for ``condapack``."""
    _exit(main)
