"""Write an environment into an archive: the pipeline's last stage."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Optional, Sequence

import attrs

from ._gc import gc_paused
from .activation import read_env_vars
from .archive.formats import INSTALLERS, check_level, extension, get_format, infer_format
from .archive.request import WriteRequest
from .errors import ArchiveError, CondaPackError, EnvError
from .layout import layout_for
from .members import Roster, make_roster
from .options import PackOptions, schema
from .output import check_output, sweep_stale
from .parcel import parcel_for, parcel_meta
from .prefix import File
from .records import PackageRecord
from .unpack.quoting import location_problem
from .unpack.safepath import UnsafePath, inside, relative_path

__all__ = ["ProgressFn", "Packed", "pack_files", "resolve"]

log = logging.getLogger("condapack")

#: Called with (bytes done, bytes in total) as members are written.
ProgressFn = Callable[[int, int], None]
Advance = Callable[[int], None]


@attrs.frozen
class Resolved:
    """Options with everything derived: format, output path, arcroot, dest prefix."""

    fmt: str
    output: Path
    arcroot: str
    dest_prefix: Optional[str]
    extra: dict[str, tuple[bytes, int]]


def resolve(prefix: Path, options: PackOptions, packages: Sequence[PackageRecord] = ()) -> Resolved:
    """Work out format, output, arcroot and dest prefix (parcels set the last two)."""
    fmt = infer_format(options.output, options.format)
    check_level(fmt, options.compress_level)
    _check_applies(fmt, options)
    arcroot, dest, extra = archive_root(options.arcroot), options.dest_prefix, {}
    base = os.path.basename(dest.rstrip("/")) if dest else prefix.name
    default_name = base + extension(fmt)
    if fmt == "parcel":
        if options.dest_prefix or options.arcroot:
            raise ArchiveError("--dest-prefix and --arcroot cannot be used with parcels; set --parcel-root, "
                               "--parcel-name and --parcel-version instead")
        parcel = parcel_for(prefix.name, options.parcel_root, options.parcel_name, options.parcel_version,
                            options.parcel_distro)
        arcroot, dest, extra, default_name = parcel.arcroot, parcel.dest_prefix, parcel_meta(parcel, packages), \
            parcel.filename
    if fmt == "oci":
        from .oci.image import image_place

        dest = image_place(prefix.name, options, packages)
        arcroot = archive_root(dest)
    if fmt in INSTALLERS and (dest or arcroot):
        raise ArchiveError(f"--dest-prefix and --arcroot cannot be used with format {fmt}: the installer sets "
                           "the environment up wherever it is installed (sh FILE --prefix DIR)")
    if fmt in INSTALLERS and layout_for(p.subdir for p in packages).windows:
        raise ArchiveError(f"format {fmt} makes a POSIX shell installer, and this is a Windows environment; "
                           "use zip or tar.gz and run Scripts\\conda-unpack.exe after extracting")
    problem = location_problem(dest, layout_for(p.subdir for p in packages).windows) if dest else None
    if problem:
        raise ArchiveError(f"--dest-prefix {dest!r}: {problem}; choose another")
    output = Path(os.path.abspath(options.output or default_name))
    return Resolved(fmt, output, arcroot, dest, extra)


@attrs.frozen
class Packed:
    """What a pack wrote: the archive's path and how many members it holds."""

    output: Path
    members: int


def archive_root(arcroot: str) -> str:
    """The checked ``--arcroot``: a directory inside the archive (a leading / is dropped)."""
    try:
        return relative_path(arcroot.lstrip("/"), allow_empty=True)
    except UnsafePath as exc:
        raise ArchiveError(f"--arcroot {exc}; name a directory inside the archive") from None


@gc_paused
def pack_files(prefix: Path, files: tuple[File, ...], options: PackOptions,
               progress: Optional[ProgressFn] = None, packages: Sequence[PackageRecord] = (),
               home: str = "") -> Packed:
    """Pack ``files`` of the environment at ``prefix``; say where and how many members.

    ``home`` is the prefix as the files spell it, when it is not ``prefix`` (a Windows
    environment read on another OS)."""
    r = resolve(prefix, options, packages)
    check_output(r.output, prefix, options.force, replaces_directory=r.fmt == "no-archive" or _is_layout(r),
                 marker="oci-layout" if _is_layout(r) else "conda-meta")
    for name in sweep_stale(r.output):
        log.info("removed %s, left behind by an interrupted run", name)
    files, extra = _slimmed(prefix, files, options.slim, r.extra)
    roster = make_roster(prefix, files, arcroot=r.arcroot, dest_prefix=r.dest_prefix,
                        follow_symlinks=r.fmt == "zip" and not options.zip_symlinks,
                        env_vars=read_env_vars(prefix), extra=extra,
                        layout=layout_for(p.subdir for p in packages), home=home or None)
    log.info("Packing environment at '%s' to '%s'", prefix, r.output)
    log.debug("format %s, level %d, %d thread(s), %d members, %d bytes of content", r.fmt,
              options.compress_level, options.threads, len(roster.members), roster.total_bytes)
    archive_format = get_format(r.fmt)
    write = archive_format.writer()  # imports the writer's module
    try:
        write(WriteRequest(r.output, archive_format, roster, options, _counter(roster, progress), prefix, files,
                           tuple(packages), r.dest_prefix or ""))
    except OSError as exc:
        raise _io_error(exc, prefix, r.output) from None
    return Packed(r.output, len(roster.members))


def _check_applies(fmt: str, options: PackOptions) -> None:
    """An option set for a format it does not apply to is a mistake, not something to ignore."""
    for spec in schema():
        if spec.formats and fmt not in spec.formats and getattr(options, spec.name) != spec.default:
            raise ArchiveError(f"{spec.flags[0]} applies only to format {', '.join(spec.formats)}, not {fmt}; "
                               f"remove it or pack with --format {spec.formats[0]}")


def _is_layout(r: Resolved) -> bool:
    """An OCI image written as a layout directory (not ``*.tar``)."""
    return r.fmt == "oci" and not r.output.name.endswith(".tar")


def _slimmed(prefix: Path, files: tuple[File, ...], slim: str,
             extra: dict[str, tuple[bytes, int]]) -> tuple[tuple[File, ...], dict[str, tuple[bytes, int]]]:
    """The files ``--slim`` keeps, and the archive's record of what it removed."""
    from .records import read_records
    from .slim import SLIM_FILE, entry_points_of, parse_slim, slim_files

    names = parse_slim(slim)
    if not names:
        return files, extra
    entry_points = entry_points_of((mp.path, mp.path_type) for p in read_records(prefix) for mp in p.paths)
    done = slim_files(files, names, entry_points)
    log.info("--slim %s: left out %d files (%d bytes); kept %d a guard rail protects", ",".join(names),
             len(done.removed), sum(r.size for r in done.removed), len(done.guarded))
    return done.files, {**extra, SLIM_FILE: (done.metadata(names), 0o644)}


def _io_error(exc: OSError, prefix: Path, output: Path) -> CondaPackError:
    """A failure to read the environment is not a full disk: say which it was."""
    name = exc.filename
    if isinstance(name, str) and (name.startswith(str(prefix) + os.sep) or inside(prefix, name)):
        return EnvError(f"cannot read {name}: {exc.strerror or exc}; fix its permissions, or pack again when "
                        "nothing is changing the environment")
    return ArchiveError(f"cannot write {output}: {exc.strerror or exc}; free some space or choose "
                        "another --output")


def _counter(roster: Roster, progress: Optional[ProgressFn]) -> Advance:
    done = 0

    def advance(nbytes: int) -> None:
        nonlocal done
        done += nbytes
        if progress is not None:
            progress(done, roster.total_bytes)

    return advance
