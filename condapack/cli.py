"""Command lines: ``conda-pack`` (the reference's flags) and ``condapack`` (subcommands).

The CLI only parses arguments and calls the library; it owns the terminal (stderr for
messages and progress) and turns :class:`CondaPackError` into one line and exit code 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Optional, Sequence

from ._version import __version__
from .archive.formats import CHOICES
from .environment import CondaEnv
from .errors import CondaPackError
from .locate import find_prefix
from .options import PackOptions
from .report import Reporter

__all__ = ["conda_pack_main", "main"]


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
    add("--output", "-o", metavar="PATH",
        help="The path of the output file. Defaults to the environment name with a .tar.gz suffix (e.g. my_env.tar.gz).")
    add("--arcroot", metavar="PATH", default="",
        help="The relative path in the archive to the conda environment. Defaults to ''.")
    add("--dest-prefix", "-d", metavar="PATH",
        help="If present, prefixes will be rewritten to this path before packaging. "
             "In this case the conda-unpack script will not be generated.")
    add("--parcel-root", metavar="PATH",
        help="(Parcels only) Where parcels are unpacked on the cluster (default: /opt/cloudera/parcels).")
    add("--parcel-name", metavar="NAME",
        help="(Parcels only) The parcel name, without dashes (default: the environment's name).")
    add("--parcel-version", metavar="VERSION",
        help="(Parcels only) The parcel version (default: today's date as YYYY.MM.DD, from "
             "SOURCE_DATE_EPOCH when set).")
    add("--parcel-distro", metavar="DISTRO",
        help="(Parcels only) The distribution of the parcel, without dashes (default: el7).")
    add("--format", choices=CHOICES, default="infer",
        help="The archival format to use. By default this is inferred by the output file extension.")
    add("--compress-level", metavar="LEVEL", type=int, default=4,
        help="The compression level to use, from 0 to 9 (up to 22 for tar.zst). Higher numbers decrease "
             "output file size at the expense of compression time. Default is 4.")
    add("--n-threads", "-j", metavar="N", type=int, default=1,
        help="The number of threads to use. Set to -1 to use the number of cpus on this machine. "
             "If a file format doesn't support threaded packaging, this option will be ignored. Default is 1.")
    add("--zip-symlinks", action="store_true",
        help="Symbolic links aren't supported by the Zip standard, but are supported by many common "
             "Zip implementations. If set, store symbolic links in the archive, instead of the file "
             "referred to by the link. Ignored if format isn't zip.")
    add("--no-zip-64", action="store_true", help="Disable ZIP64 extensions.")
    add("--ignore-editable-packages", action="store_true", help="Skips checks for editable packages.")
    add("--ignore-missing-files", action="store_true", help="Skip checks for missing package files.")
    add("--exclude", action=_FilterAction, metavar="PATTERN", dest="filters",
        help="Exclude files matching this pattern")
    add("--include", action=_FilterAction, metavar="PATTERN", dest="filters",
        help="Re-add excluded files matching this pattern")
    add("--force", "-f", action="store_true",
        help="Overwrite any existing archive at the output path, or create the output directory if it's missing.")
    add("--quiet", "-q", action="store_true", help="Do not report progress")


def build_conda_pack_parser() -> argparse.ArgumentParser:
    """The ``conda-pack`` parser, flag for flag."""
    parser = argparse.ArgumentParser(
        prog="conda-pack", add_help=False, allow_abbrev=False,
        description="Package an existing conda environment into an archive file.")
    add_pack_arguments(parser)
    parser.add_argument("--help", "-h", action="help", help="Show this help message then exit")
    parser.add_argument("--version", action="store_true", help="Show version then exit")
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The ``condapack`` parser with its subcommands."""
    parser = argparse.ArgumentParser(
        prog="condapack", allow_abbrev=False,
        description="Pack conda environments into relocatable, reproducible archives.")
    parser.add_argument("--version", action="version", version=f"condapack {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    pack = sub.add_parser("pack", help="Pack one environment (conda-pack's options).",
                          description="Package an existing conda environment into an archive file.",
                          allow_abbrev=False)
    add_pack_arguments(pack)
    for name, helptext in PROJECT_COMMANDS.items():
        cmd = sub.add_parser(name, help=helptext, description=helptext, allow_abbrev=False)
        cmd.add_argument("-c", "--config", metavar="PATH",
                         help="The project file (default: the nearest condapack.toml upwards).")
        cmd.add_argument("targets", nargs="*" if name != "deps" else 1, metavar="TARGET",
                         help="ENV:FORMAT, ENV (all its targets) or an output path; default: all.")
        _project_flags(name, cmd)
    return parser


PROJECT_COMMANDS = {
    "plan": "Show which targets would be built and why; change nothing.",
    "lock": "Write condapack.lock for the project's environments and targets.",
    "build": "Build out-of-date targets, update the lock and SHA256SUMS.",
    "outputs": "Print the output path of each target, one per line.",
    "deps": "Print a make dependency file for one target.",
}


def _project_flags(name: str, cmd: argparse.ArgumentParser) -> None:
    if name in ("lock", "build"):
        cmd.add_argument("--locked", action="store_true",
                         help="Fail if condapack.lock is missing or out of date; never write it.")
    if name == "build":
        cmd.add_argument("-f", "--force", action="store_true", help="Rebuild even up-to-date targets.")
        cmd.add_argument("-q", "--quiet", action="store_true", help="Only report errors.")
    if name == "plan":
        cmd.add_argument("--json", action="store_true", help="Print the plan as JSON.")
        cmd.add_argument("--exit-code", action="store_true",
                         help="Exit with status 2 when something would be built (0 when all is up to date).")
    if name == "deps":
        cmd.add_argument("-o", "--output", metavar="FILE", help="Write to FILE instead of standard output.")


def run_pack(args: argparse.Namespace, prog: str) -> int:
    """Pack as the arguments say; report on stderr."""
    with Reporter(enabled=not args.quiet, prog=prog) as reporter:
        prefix = find_prefix(name=args.name, prefix=args.prefix)
        if not args.quiet:
            print("Collecting packages...", file=sys.stderr)
        env = CondaEnv.from_prefix(prefix, ignore_editable_packages=args.ignore_editable_packages,
                                   ignore_missing_files=args.ignore_missing_files)
        if args.filters:
            env = env.filtered(args.filters)
        options = PackOptions(
            output=args.output, format=args.format, arcroot=args.arcroot, dest_prefix=args.dest_prefix,
            force=args.force, compress_level=args.compress_level, n_threads=args.n_threads,
            zip_symlinks=args.zip_symlinks, zip_64=not args.no_zip_64, parcel_root=args.parcel_root,
            parcel_name=args.parcel_name, parcel_version=args.parcel_version, parcel_distro=args.parcel_distro)
        output = env.pack_with(options, progress=reporter.progress)
        if not args.quiet:
            print(f"Wrote {output}", file=sys.stderr)
    return 0


def _guarded(prog: str, error_prefix: str, action: Callable[[], int]) -> int:
    try:
        return action()
    except CondaPackError as exc:
        print(f"{error_prefix}{exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def conda_pack_main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``conda-pack``."""
    args = build_conda_pack_parser().parse_args(argv)
    if args.version:
        print(f"conda-pack {__version__}")
        return 0
    return _guarded("conda-pack", "CondaPackError: ", lambda: run_pack(args, "conda-pack"))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``condapack``."""
    args = build_parser().parse_args(argv)
    if args.command == "pack":
        return _guarded("condapack", "condapack: error: ", lambda: run_pack(args, "condapack"))
    from . import project_cli

    return _guarded("condapack", "condapack: error: ", lambda: project_cli.run(args))


def _exit(run: Callable[[], int]) -> None:
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
