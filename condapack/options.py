"""The one options object that flows through packing, and the schema it is declared in.

Each packing option is declared once, as a field of :class:`PackOptions` made by
:func:`option`: its type and default, its help, its command-line spelling (conda-pack's),
its ``condapack.toml`` key and whether it changes the archive's bytes (then the lock
records it). The command line (:func:`condapack.pack_cli.add_pack_arguments`), the project
file (:mod:`condapack.project.config`), ``pack(**options)`` and the lock's options entry
are all read from :func:`schema`.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Optional

import attrs

from .archive.formats import CHOICES
from .errors import CondaPackError
from .unpack.safepath import UnsafePath, absolute_path, host_path

__all__ = ["PackOptions", "OptionSpec", "option", "schema", "check_threads", "threads_problem", "THREADS_RULE",
           "layers_problem", "resolve_threads", "env_threads", "DEFAULT_MAX_THREADS", "MAX_THREADS"]


#: Threads when none are asked for (no -j, no CONDAPACK_THREADS, no ``threads`` key): every
#: cpu this process may run on, as pigz does, since the bytes never depend on the count;
#: but at most this many, because each thread keeps blocks in flight (memory grows with
#: it) and beyond it writing the archive, not compressing, is what takes the time.
DEFAULT_MAX_THREADS = 8


#: The most threads asked for that condapack runs: compressors take the count as a C int,
#: and each thread keeps blocks in flight.
MAX_THREADS = 1024

#: What a thread count may be, as every message about one says.
THREADS_RULE = f"a positive number up to {MAX_THREADS} or -1 (all cpus)"


def threads_problem(value: int) -> Optional[str]:
    """What is wrong with a thread count (the flag's, the key's and the variable's rule), or None."""
    return f"must be {THREADS_RULE}, got {value}" if value == 0 or value < -1 or value > MAX_THREADS else None


def env_threads(environ: Mapping[str, str]) -> Optional[int]:
    """``CONDAPACK_THREADS`` as a thread count, or None when unset or empty."""
    value = environ.get("CONDAPACK_THREADS", "").strip()
    if not value:
        return None
    digits = value[1:] if value.startswith("-") else value
    if not (digits.isascii() and digits.isdigit()) or threads_problem(int(value)):
        raise CondaPackError(f"environment variable CONDAPACK_THREADS={value!r} is not a thread count; set it "
                             f"to {THREADS_RULE}, or unset it")
    return int(value)


def check_threads(value: int) -> None:
    """Refuse a --n-threads value that is not a thread count."""
    problem = threads_problem(value)
    if problem:
        raise CondaPackError(f"--n-threads {problem}")


def _slim(_inst: object, _attr: object, value: str) -> None:
    from .slim import parse_slim

    parse_slim(value)


def _threads(_inst: object, _attr: object, value: Optional[int]) -> None:
    if value is not None:
        check_threads(value)


def _annotation(flag: str) -> Validator:
    """Refuse an image annotation that is empty or not one line of printable text."""

    def check(_inst: object, _attr: object, value: Optional[str]) -> None:
        if value is not None and (not value.strip() or not value.isprintable()):
            raise CondaPackError(f"{flag} {value[:80]!r}: an image annotation is one line of printable text; "
                                 "pass it without control characters")

    return check


def _usable_cpus() -> int:
    """The cpus this process may run on (its affinity mask: taskset, cgroup cpusets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_threads(n_threads: Optional[int]) -> int:
    """The thread count to run: ``None`` is the default (all cpus, at most
    ``DEFAULT_MAX_THREADS``), -1 all cpus (conda-pack's meaning), else as given."""
    if n_threads is None:
        return min(_usable_cpus(), DEFAULT_MAX_THREADS)
    return _usable_cpus() if n_threads == -1 else n_threads


Validator = Callable[[object, object, Any], None]


#: The formats of the image options.
_OCI = ("oci",)


def layers_problem(value: int) -> Optional[str]:
    """What is wrong with a layer budget (the flag's and the key's rule: positive), or None."""
    return f"must be a positive number, got {value}" if value < 1 else None


def _layers(_inst: object, _attr: object, value: int) -> None:
    problem = layers_problem(value)
    if problem:
        raise CondaPackError(f"--layers {problem}")


def _path_rule(option: str, rule: Callable[[object], str], fix: str) -> Validator:
    """An attrs validator applying a :mod:`condapack.unpack.safepath` rule to an optional path option."""

    def validate(_inst: object, _attr: object, value: Optional[str]) -> None:
        if value is not None:
            try:
                rule(value)
            except UnsafePath as exc:
                raise CondaPackError(f"{option} {exc}; {fix}") from None

    return validate


@attrs.frozen
class OptionSpec:
    """How one packing option appears outside Python.

    ``flags``: the command-line spellings (none: not on the command line); ``negate``: a
    true default that a ``--no-...`` flag turns off. ``toml``: the key in ``[defaults]``
    and ``[env.NAME]`` (``"parcel.root"``: the key ``root`` of the ``parcel`` table;
    None: not in the project file). ``locked``: it changes the archive's bytes, so the
    lock records it under the toml key. ``formats``: the only formats it applies to
    (empty: every format); the lock records it only for those.
    """

    name: str
    kind: type
    default: Any
    help: str
    flags: tuple[str, ...]
    metavar: Optional[str]
    toml: Optional[str]
    locked: bool
    negate: bool
    choices: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()

    @property
    def optional(self) -> bool:
        """Whether None is a valid value (an unset path or name)."""
        return self.default is None


def option(default: Any, help: str, *flags: str, kind: type = str, metavar: Optional[str] = None,
           toml: Optional[str] = None, locked: bool = False, negate: bool = False,
           validator: Optional[Validator] = None, choices: tuple[str, ...] = (),
           formats: tuple[str, ...] = ()) -> Any:
    """Declare one packing option: a :class:`PackOptions` field carrying its :class:`OptionSpec`."""
    spec = {"help": help, "flags": flags, "kind": kind, "metavar": metavar, "toml": toml, "locked": locked,
            "negate": negate, "choices": choices, "formats": formats}
    return attrs.field(default=default, validator=validator, metadata={"option": spec})


@attrs.frozen(kw_only=True)
class PackOptions:
    """How to pack: output, format and archive settings (conda-pack's options), in ``--help`` order."""

    output: Optional[str] = option(
        None, "The path of the output file. Defaults to the environment name with a .tar.gz suffix "
        "(e.g. my_env.tar.gz).", "--output", "-o", metavar="PATH",
        validator=_path_rule("--output", host_path, "name the archive to write"))
    arcroot: str = option(
        "", "The relative path in the archive to the conda environment. Defaults to ''.", "--arcroot",
        metavar="PATH", toml="arcroot", locked=True)
    dest_prefix: Optional[str] = option(
        None, "If present, prefixes will be rewritten to this path before packaging. In this case the "
        "conda-unpack script will not be generated.", "--dest-prefix", "-d", metavar="PATH",
        toml="dest-prefix", locked=True,
        validator=_path_rule("--dest-prefix", absolute_path, "pass the final location of the environment"))
    parcel_root: Optional[str] = option(
        None, "(Parcels only) Where parcels are unpacked on the cluster (default: /opt/cloudera/parcels).",
        "--parcel-root", metavar="PATH", toml="parcel.root", locked=True)
    parcel_name: Optional[str] = option(
        None, "(Parcels only) The parcel name, without dashes (default: the environment's name).",
        "--parcel-name", metavar="NAME", toml="parcel.name", locked=True)
    parcel_version: Optional[str] = option(
        None, "(Parcels only) The parcel version (default: today's date as YYYY.MM.DD, from "
        "SOURCE_DATE_EPOCH when set).", "--parcel-version", metavar="VERSION", toml="parcel.version",
        locked=True)
    parcel_distro: Optional[str] = option(
        None, "(Parcels only) The distribution of the parcel, without dashes (default: el7).",
        "--parcel-distro", metavar="DISTRO", toml="parcel.distro", locked=True)
    format: str = option(
        "infer", "The archival format to use. By default this is inferred by the output file extension.",
        "--format", choices=CHOICES)
    compress_level: int = option(
        4, "The compression level to use, from 0 to 9 (up to 22 for tar.zst). Higher numbers decrease "
        "output file size at the expense of compression time. Default is 4.", "--compress-level",
        kind=int, metavar="LEVEL", toml="compress-level", locked=True)
    n_threads: Optional[int] = option(
        None, "The number of threads to use. Set to -1 to use the number of cpus on this machine. If a file "
        "format doesn't support threaded packaging, this option will be ignored. Default: CONDAPACK_THREADS, "
        "else every cpu up to 8 (threads never change the bytes).", "--n-threads", "-j", kind=int, metavar="N",
        toml="threads", validator=_threads)
    zip_symlinks: bool = option(
        False, "Symbolic links aren't supported by the Zip standard, but are supported by many common Zip "
        "implementations. If set, store symbolic links in the archive, instead of the file referred to by "
        "the link. Ignored if format isn't zip.", "--zip-symlinks", kind=bool, toml="zip-symlinks", locked=True)
    zip_64: bool = option(True, "Disable ZIP64 extensions.", "--no-zip-64", kind=bool, toml="zip-64",
                          locked=True, negate=True)
    ignore_editable_packages: bool = option(
        False, "Skips checks for editable packages.", "--ignore-editable-packages", kind=bool,
        toml="ignore-editable-packages", locked=True)
    ignore_missing_files: bool = option(
        False, "Skip checks for missing package files.", "--ignore-missing-files", kind=bool,
        toml="ignore-missing-files", locked=True)
    slim: str = option(
        # the presets are named here, not imported: every command line would pay for importing slimming
        "", "Leave out what the environment runs without, by preset (comma-separated): bytecode, tests, docs, "
        "headers, static, debug, locales, examples, caches. "
        "Entry points, .pth files, modules a kept module imports at import time and libraries a kept file "
        "links to are always kept; the archive lists what was removed (conda-meta/condapack/slim.json).",
        "--slim", metavar="PRESETS", toml="slim", locked=True, validator=_slim)
    force: bool = option(
        False, "Overwrite any existing archive at the output path, or create the output directory if it's "
        "missing.", "--force", "-f", kind=bool)

    base: Optional[str] = option(
        None, "(oci only) The image to build on: an OCI layout directory, an OCI archive, or a registry "
        "reference (REGISTRY/REPO:TAG, pulled once and cached by digest). Default: none, an image of the "
        "environment alone.", "--base", metavar="REF", toml="base", locked=True, formats=_OCI)
    layers: int = option(
        100, "(oci only) At most this many layers for the packages (one each below it, else shared by a "
        "hash of the package name); files no package owns and condapack's files get one more each. "
        "Default 100.", "--layers", kind=int, metavar="N", toml="layers", locked=True, validator=_layers,
        formats=_OCI)
    layer_compression: str = option(
        "gzip", "(oci only) How layers are compressed: gzip (default, read by every runtime) or zstd.",
        "--layer-compression", choices=("gzip", "zstd"), toml="layer-compression", locked=True, formats=_OCI)
    entrypoint: Optional[str] = option(
        None, "(oci only) The image's entry point, a command line split as a shell would "
        "(e.g. 'python -m app').", "--entrypoint", metavar="CMD", toml="entrypoint", locked=True, formats=_OCI)
    cmd: Optional[str] = option(
        None, "(oci only) The image's default command (arguments of the entry point), split as a shell would.",
        "--cmd", metavar="CMD", toml="cmd", locked=True, formats=_OCI)
    workdir: Optional[str] = option(
        None, "(oci only) The image's working directory.", "--workdir", metavar="PATH", toml="workdir",
        locked=True, formats=_OCI)
    user: Optional[str] = option(
        None, "(oci only) The user the image runs as (NAME, UID or UID:GID).", "--user", metavar="USER",
        toml="user", locked=True, formats=_OCI)

    image_source: Optional[str] = option(
        None, "(oci only) The image's org.opencontainers.image.source: the URL of its sources.",
        "--image-source", metavar="URL", toml="image-source", locked=True, validator=_annotation("--image-source"),
        formats=_OCI)
    image_revision: Optional[str] = option(
        None, "(oci only) The image's org.opencontainers.image.revision: the version control revision of its "
        "sources (e.g. the output of git rev-parse HEAD).", "--image-revision", metavar="REV",
        toml="image-revision", locked=True, validator=_annotation("--image-revision"), formats=_OCI)
    image_version: Optional[str] = option(
        None, "(oci only) The image's org.opencontainers.image.version: the version of what it packages.",
        "--image-version", metavar="VERSION", toml="image-version", locked=True,
        validator=_annotation("--image-version"), formats=_OCI)

    @property
    def threads(self) -> int:
        """The thread count to run (see :func:`resolve_threads`)."""
        return resolve_threads(self.n_threads)


def schema() -> tuple[OptionSpec, ...]:
    """Every packing option, in ``--help`` order."""
    return tuple(OptionSpec(name=f.name, default=f.default, **f.metadata["option"])
                 for f in attrs.fields(PackOptions))
