"""The pack command: ``conda-pack``, ``conda pack`` and ``condapack pack`` (conda-pack's flags).

Its flags come from the option schema (:mod:`condapack.options`) plus the reference's
``--name``, ``--prefix``, ``--exclude``/``--include`` and ``--quiet``; flags win over the
``CONDAPACK_*`` environment variables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar, Optional

import attrs

from .command import Environ, Terminal, add_json, add_verbose
from .locate import find_prefix
from .options import OptionSpec, PackOptions, env_threads, schema

if TYPE_CHECKING:
    from .packing import Packed

__all__ = ["Pack", "Locator", "add_pack_arguments", "pack_doc"]

#: Resolves (-n NAME, -p PATH) to a prefix: :func:`find_prefix`, or conda's own lookup.
Locator = Callable[[Optional[str], Optional[str]], Path]
Filters = tuple[tuple[str, str], ...]

#: The ``--help`` description of ``conda-pack`` and ``condapack pack``.
DESCRIPTION = "Package an existing conda environment into an archive file."


class _FilterAction(argparse.Action):
    """Collect ``--exclude``/``--include`` in command-line order."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: Optional[str] = None) -> None:
        filters = list(getattr(namespace, self.dest) or [])
        filters.append(((option_string or "").strip("-"), str(values)))
        setattr(namespace, self.dest, filters)


def add_pack_arguments(parser: argparse.ArgumentParser) -> None:
    """The reference's packing flags, shared by ``conda-pack`` and ``condapack pack``."""
    add = parser.add_argument
    add("--name", "-n", metavar="ENV", help="Name of existing environment. Default is current environment.")
    add("--prefix", "-p", metavar="PATH", help="Full path to environment prefix.")
    for spec in schema():
        _add_option(parser, spec)
    add("--exclude", action=_FilterAction, metavar="PATTERN", dest="filters",
        help="Exclude files matching this pattern")
    add("--include", action=_FilterAction, metavar="PATTERN", dest="filters",
        help="Re-add excluded files matching this pattern")
    add("--quiet", "-q", action="store_true", help="Do not report progress")
    add("--sbom", action="store_true",
        help="Also write a CycloneDX 1.6 JSON SBOM of the archive beside it (OUTPUT.cdx.json).")
    add_json(parser, "Print the output path, sha256, size, member count and seconds as JSON on stdout.")
    add_verbose(parser)


def _add_option(parser: argparse.ArgumentParser, spec: OptionSpec) -> None:
    """One packing option's flags, as :mod:`condapack.options` declares them."""
    if spec.kind is bool:
        action = "store_false" if spec.negate else "store_true"
        parser.add_argument(*spec.flags, dest=spec.name, action=action, help=spec.help)
        return
    # None: not given (the thread count then comes from CONDAPACK_THREADS, the rest from the default)
    parser.add_argument(*spec.flags, dest=spec.name, metavar=spec.metavar, type=spec.kind,
                        default=None if spec.name == "n_threads" else spec.default,
                        choices=spec.choices or None, help=spec.help)


@attrs.frozen
class Pack:
    """Pack one environment; report on stderr, and with --json describe the archive on stdout.

    ``prog`` names the command in messages; ``locate`` finds the environment (``conda pack``
    asks conda).
    """

    name: ClassVar[str] = "pack"
    help: ClassVar[str] = "Pack one environment (conda-pack's options)."
    description: ClassVar[str] = DESCRIPTION

    env_name: Optional[str]
    prefix: Optional[str]
    filters: Filters
    options: PackOptions
    terminal: Terminal
    sbom: bool = False
    prog: str = "condapack"
    locate: Locator = find_prefix

    @staticmethod
    def configure(parser: argparse.ArgumentParser) -> None:
        add_pack_arguments(parser)

    @classmethod
    def of(cls, ns: argparse.Namespace, environ: Environ, prog: str = "condapack",
           locate: Locator = find_prefix) -> Pack:
        """Check and type the parsed flags (bad values raise :class:`CondaPackError`)."""
        given = {spec.name: getattr(ns, spec.name) for spec in schema()}
        threads = ns.n_threads if ns.n_threads is not None else env_threads(environ)
        options = PackOptions(**{**given, "n_threads": threads})
        return cls(ns.name, ns.prefix, tuple(ns.filters or ()), options, Terminal.of(ns, environ), sbom=ns.sbom,
                   prog=prog, locate=locate)

    def run(self) -> int:
        """Pack as the arguments say."""
        # Imported here: the project commands' start-up (a no-op build) does not need them.
        from .digest import content_digest
        from .environment import CondaEnv
        from .sbom import write_sbom

        start = time.monotonic()
        quiet = self.terminal.quiet
        with self.terminal.reporter(self.prog) as reporter:
            prefix = self.locate(self.env_name, self.prefix)
            if not quiet:
                print("Collecting packages...", file=sys.stderr)
            env = CondaEnv.read(prefix, self.options)
            if self.filters:
                env = env.filtered(self.filters)
            packed = env.pack_with(self.options, progress=reporter.progress)
            if not quiet:
                print(f"Wrote {packed.output}", file=sys.stderr)
            if self.sbom:
                sbom = write_sbom(env.packages, env.files, packed.output, content_digest(packed.output))
                if not quiet:
                    print(f"Wrote {sbom}", file=sys.stderr)
        if self.terminal.json:
            print(json.dumps(pack_doc(packed, time.monotonic() - start), indent=2))
        return 0


def pack_doc(packed: Packed, seconds: float) -> dict[str, object]:
    """The ``--json`` description of one written archive."""
    from .digest import content_digest, content_size

    return {"output": str(packed.output), "sha256": content_digest(packed.output),
            "size": content_size(packed.output), "members": packed.members, "seconds": round(seconds, 3)}
