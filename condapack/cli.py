"""Command lines: ``conda-pack`` (the reference's flags) and ``condapack`` (subcommands).

The CLI only parses arguments and calls the library; it owns the terminal (stderr for
messages and progress, stdout for ``--json`` and other requested data) and turns
:class:`CondaPackError` into one line (a JSON object with ``--json``) and exit code 1.
Each command line becomes a small typed record (:class:`PackArgs`, :class:`ProjectArgs`)
before anything runs; flags win over the ``CONDAPACK_*`` environment variables.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Optional, Sequence

import attrs

from ._version import version_line
from .envvars import ENV_VARS, env_flag, env_text, env_threads
from .errors import CondaPackError
from .locate import find_prefix
from .options import OptionSpec, PackOptions, check_threads, schema
from .report import Reporter

if TYPE_CHECKING:
    from .packing import Packed

__all__ = ["conda_pack_main", "main", "EXIT_CODES", "PackArgs", "ProjectArgs", "Terminal", "SUBCOMMANDS"]

#: Exit status -> meaning, for every command (the ``--help`` epilog and the README).
EXIT_CODES = {
    0: "success",
    1: "an error, reported on one line on stderr (a JSON object with --json)",
    2: "a bad command line; plan --exit-code: something would be built",
    130: "interrupted (Ctrl-C)",
    141: "standard output was closed early (broken pipe)",
}

#: Resolves (-n NAME, -p PATH) to a prefix: :func:`find_prefix`, or conda's own lookup.
Locator = Callable[[Optional[str], Optional[str]], Path]
Filters = tuple[tuple[str, str], ...]


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
    def of(cls, ns: argparse.Namespace, environ: Mapping[str, str]) -> Terminal:
        """Read the flags, with ``CONDAPACK_QUIET`` for commands that have -q."""
        quiet = hasattr(ns, "quiet") and (ns.quiet or env_flag("CONDAPACK_QUIET", environ))
        json_ = getattr(ns, "json", False)
        return cls(quiet=quiet or json_, json=json_, verbose=getattr(ns, "verbose", False))

    def reporter(self, prog: str) -> Reporter:
        """Log messages and progress on stderr as these settings say."""
        return Reporter(enabled=not self.quiet, prog=prog, verbose=self.verbose)


@attrs.frozen
class PackArgs:
    """A ``conda-pack`` / ``condapack pack`` command line."""

    name: Optional[str]
    prefix: Optional[str]
    filters: Filters
    options: PackOptions
    terminal: Terminal
    sbom: bool = False

    @classmethod
    def of(cls, ns: argparse.Namespace, environ: Mapping[str, str]) -> PackArgs:
        """Check and type the parsed flags (bad values raise :class:`CondaPackError`)."""
        given = {spec.name: getattr(ns, spec.name) for spec in schema()}
        threads = ns.n_threads if ns.n_threads is not None else env_threads(environ)
        options = PackOptions(**{**given, "n_threads": threads})
        return cls(ns.name, ns.prefix, tuple(ns.filters or ()), options, Terminal.of(ns, environ), sbom=ns.sbom)


@attrs.frozen
class ProjectArgs:
    """A project subcommand line: plan, lock, build, outputs or deps."""

    command: str
    config: Optional[str]
    targets: tuple[str, ...]
    terminal: Terminal
    locked: bool = False
    force: bool = False
    threads: Optional[int] = None
    exit_code: bool = False
    output: Optional[str] = None
    cache: Optional[str] = None
    no_cache: bool = False
    cache_write: bool = False
    require_cache: bool = False
    report: bool = False

    @classmethod
    def of(cls, ns: argparse.Namespace, environ: Mapping[str, str]) -> ProjectArgs:
        """Type the parsed flags, filling what was not given from ``CONDAPACK_*``."""
        threads = getattr(ns, "n_threads", None)
        if hasattr(ns, "n_threads") and threads is None:
            threads = env_threads(environ)
        if threads is not None:
            check_threads(threads)
        locked = hasattr(ns, "locked") and (ns.locked or env_flag("CONDAPACK_LOCKED", environ))
        return cls(ns.command, ns.config or env_text("CONDAPACK_CONFIG", environ), tuple(ns.targets),
                   Terminal.of(ns, environ), locked=locked, force=getattr(ns, "force", False), threads=threads,
                   exit_code=getattr(ns, "exit_code", False), output=getattr(ns, "output", None),
                   cache=getattr(ns, "cache", None) or env_text("CONDAPACK_CACHE", environ),
                   no_cache=getattr(ns, "no_cache", False), cache_write=getattr(ns, "cache_write", False),
                   require_cache=getattr(ns, "require_cache", False), report=getattr(ns, "report", False))


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
    _add_json(parser, "Print the output path, sha256, size, member count and seconds as JSON on stdout.")
    _add_verbose(parser)


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


def _add_json(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"{what} Errors become a JSON object on stderr.")


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verbose", "-v", action="store_true", help="Also report debug detail on stderr.")


def _epilog(variables: Sequence[str]) -> str:
    codes = "\n".join(f"  {code:<5}{meaning}" for code, meaning in EXIT_CODES.items())
    env = "\n".join(f"  {name:<19}{ENV_VARS[name]}" for name in variables)
    return f"exit status:\n{codes}\n\nenvironment variables (a flag on the command line wins):\n{env}"


PACK_VARIABLES = ("CONDAPACK_QUIET", "CONDAPACK_THREADS")


def build_conda_pack_parser(prog: str = "conda-pack") -> argparse.ArgumentParser:
    """The ``conda-pack`` parser, flag for flag (``conda pack`` shows it as its own)."""
    parser = argparse.ArgumentParser(
        prog=prog, add_help=False, allow_abbrev=False, epilog=_epilog(PACK_VARIABLES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Package an existing conda environment into an archive file.")
    add_pack_arguments(parser)
    parser.add_argument("--help", "-h", action="help", help="Show this help message then exit")
    parser.add_argument("--version", action="store_true", help="Show version then exit")
    return parser


@attrs.frozen
class Subcommand:
    """One ``condapack`` subcommand: its one-line help and the flags beyond the shared ones."""

    help: str
    configure: Callable[[argparse.ArgumentParser], None]


def _targets(parser: argparse.ArgumentParser, nargs: str | int = "*") -> None:
    parser.add_argument("-c", "--config", metavar="PATH",
                        help="The project file (default: CONDAPACK_CONFIG, else the nearest condapack.toml upwards).")
    parser.add_argument("targets", nargs=nargs, metavar="TARGET",
                        help="ENV:FORMAT, ENV (all its targets) or an output path; default: all.")


def _locked(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--locked", action="store_true",
                        help="Fail if condapack.lock is missing or out of date; never write it (CONDAPACK_LOCKED=1).")


def _quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="Only report errors (CONDAPACK_QUIET=1).")


def _configure_plan(parser: argparse.ArgumentParser) -> None:
    _targets(parser)
    _add_json(parser, "Print the plan as JSON.")
    parser.add_argument("--exit-code", action="store_true",
                        help="Exit with status 2 when something would be built (0 when all is up to date).")
    _add_verbose(parser)


def _configure_lock(parser: argparse.ArgumentParser) -> None:
    _targets(parser)
    _locked(parser)
    _quiet(parser)
    _add_json(parser, "Print the lock's path, whether it changed, its environments and targets as JSON.")
    _add_verbose(parser)


def _configure_build(parser: argparse.ArgumentParser) -> None:
    _targets(parser)
    _locked(parser)
    parser.add_argument("-f", "--force", action="store_true", help="Rebuild even up-to-date targets.")
    parser.add_argument("-j", "--n-threads", metavar="N", type=int, default=None,
                        help="Threads for every target, overriding the project file (-1: all cpus; "
                             "CONDAPACK_THREADS). Threads never change an archive's bytes.")
    _quiet(parser)
    _add_json(parser, "Print each target (built, fetched or up to date, uploaded, output, sha256, size, "
                      "seconds) as JSON.")
    _add_verbose(parser)
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


def _configure_outputs(parser: argparse.ArgumentParser) -> None:
    _targets(parser)
    _add_json(parser, "Print each target's name, environment, format and output as JSON.")


def _configure_deps(parser: argparse.ArgumentParser) -> None:
    _targets(parser, nargs=1)
    parser.add_argument("-o", "--output", metavar="FILE", help="Write to FILE instead of standard output.")


def _configure_sbom(parser: argparse.ArgumentParser) -> None:
    _targets(parser, nargs=1)
    parser.add_argument("-o", "--output", metavar="FILE", help="Write to FILE instead of beside the archive.")


def _configure_pack(parser: argparse.ArgumentParser) -> None:
    add_pack_arguments(parser)


def _configure_size(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="ENV|ARCHIVE|TARGET",
                        help="An environment (its path, or the name of a conda environment), a tar/zip archive, "
                             "or a target of the project (ENV:FORMAT or ENV, as build names them).")
    parser.add_argument("-c", "--config", metavar="PATH",
                        help="The project file naming TARGET (default: CONDAPACK_CONFIG, else the nearest "
                             "condapack.toml upwards).")
    parser.add_argument("--slim", metavar="PRESETS", default="",
                        help="Also show what these slimming presets would remove (comma-separated; see pack --slim).")
    parser.add_argument("--exclude", metavar="PATTERN", action="append", default=[],
                        help="Also show what this gitignore-style pattern would remove (repeatable).")
    parser.add_argument("--html", metavar="FILE", help="Also write the report as one self-contained HTML page.")
    _add_json(parser, "Print the report as JSON instead of text.")


#: Every ``condapack`` subcommand, in ``--help`` order: the one place they are wired.
SUBCOMMANDS = {
    "pack": Subcommand("Pack one environment (conda-pack's options).", _configure_pack),
    "plan": Subcommand("Show which targets would be built and why; change nothing.", _configure_plan),
    "lock": Subcommand("Write condapack.lock for the project's environments and targets.", _configure_lock),
    "build": Subcommand("Build out-of-date targets, update the lock and SHA256SUMS.", _configure_build),
    "outputs": Subcommand("Print the output path of each target, one per line.", _configure_outputs),
    "deps": Subcommand("Print a make dependency file for one target.", _configure_deps),
    "sbom": Subcommand("Write the CycloneDX SBOM of one built target beside its archive.", _configure_sbom),
    "size": Subcommand("Show where an environment's or an archive's bytes go, and what slimming would save.",
                       _configure_size),
}


def build_parser() -> argparse.ArgumentParser:
    """The ``condapack`` parser with its subcommands."""
    parser = argparse.ArgumentParser(
        prog="condapack", allow_abbrev=False, epilog=_epilog(tuple(ENV_VARS)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Pack conda environments into relocatable, reproducible archives.")
    parser.add_argument("--version", action="version", version=version_line("condapack"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in SUBCOMMANDS.items():
        description = "Package an existing conda environment into an archive file." if name == "pack" else command.help
        cmd = sub.add_parser(name, help=command.help, description=description, allow_abbrev=False,
                             epilog=_epilog(tuple(ENV_VARS)), formatter_class=argparse.RawDescriptionHelpFormatter)
        command.configure(cmd)
    return parser


def run_pack(args: PackArgs, prog: str, locate: Locator = find_prefix) -> int:
    """Pack as the arguments say; report on stderr, and with --json describe the archive on stdout."""
    # Imported here: the project commands' start-up (a no-op build) does not need them.
    from .digest import content_digest
    from .environment import CondaEnv
    from .sbom import write_sbom

    start = time.monotonic()
    quiet = args.terminal.quiet
    with args.terminal.reporter(prog) as reporter:
        prefix = locate(args.name, args.prefix)
        if not quiet:
            print("Collecting packages...", file=sys.stderr)
        env = CondaEnv.read(prefix, args.options)
        if args.filters:
            env = env.filtered(args.filters)
        packed = env.pack_with(args.options, progress=reporter.progress)
        if not quiet:
            print(f"Wrote {packed.output}", file=sys.stderr)
        if args.sbom:
            sbom = write_sbom(env.packages, env.files, packed.output, content_digest(packed.output))
            if not quiet:
                print(f"Wrote {sbom}", file=sys.stderr)
    if args.terminal.json:
        print(json.dumps(pack_doc(packed, time.monotonic() - start), indent=2))
    return 0


def pack_doc(packed: Packed, seconds: float) -> dict[str, object]:
    """The ``--json`` description of one written archive."""
    from .digest import content_digest, content_size

    return {"output": str(packed.output), "sha256": content_digest(packed.output),
            "size": content_size(packed.output), "members": packed.members, "seconds": round(seconds, 3)}


def run_size(ns: argparse.Namespace) -> int:
    """``condapack size``: the report as text or JSON on stdout, and the HTML page when asked."""
    from .project.sizes import find_target, size_target
    from .size import render_text, report_doc, size_of, write_html
    from .slim import parse_slim

    source, slim, exclude = ns.source, parse_slim(ns.slim), tuple(ns.exclude)
    target = find_target(source, ns.config or env_text("CONDAPACK_CONFIG", os.environ))
    if target is not None:
        report = size_target(*target, slim=slim, exclude=exclude)
    else:
        if not os.path.exists(source) and os.sep not in source:
            source = str(find_prefix(name=source))
        report = size_of(source, slim=slim, exclude=exclude)
    if ns.html:
        write_html(report, Path(ns.html))
    print(json.dumps(report_doc(report), indent=2) + "\n" if ns.json else render_text(report), end="")
    return 0


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
    return _guarded(prog, "CondaPackError: ", ns, lambda: run_pack(PackArgs.of(ns, os.environ), prog, locate))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``condapack``."""
    ns = build_parser().parse_args(argv)
    if ns.command == "pack":
        return _guarded("condapack", "condapack: error: ", ns,
                        lambda: run_pack(PackArgs.of(ns, os.environ), "condapack"))
    if ns.command == "size":
        return _guarded("condapack", "condapack: error: ", ns, lambda: run_size(ns))
    from .project import project_cli

    return _guarded("condapack", "condapack: error: ", ns,
                    lambda: project_cli.run(ProjectArgs.of(ns, os.environ)))


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
