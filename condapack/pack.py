"""Write an environment into an archive: the pipeline's last stage."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import BinaryIO, Callable, Optional

from .activation import read_env_vars
from .archive.compress import open_sink
from .archive.formats import extension, infer_format
from .archive.tar import write_tar
from .archive.zip import write_zip
from .members import MemberPlan, plan_members
from .options import PackOptions
from .output import atomic_output, check_output
from .prefix import File

__all__ = ["ProgressFn", "pack_files", "default_output"]

log = logging.getLogger("condapack")

#: Called with (bytes done, bytes in total) as members are written.
ProgressFn = Callable[[int, int], None]


def default_output(prefix: Path, options: PackOptions, fmt: str) -> Path:
    """``<env name><ext>`` (or the dest-prefix's name) in the working directory."""
    base = os.path.basename(options.dest_prefix.rstrip("/")) if options.dest_prefix else prefix.name
    return Path(os.path.abspath(base + extension(fmt)))


def pack_files(prefix: Path, files: tuple[File, ...], options: PackOptions,
               progress: Optional[ProgressFn] = None) -> Path:
    """Pack ``files`` of the environment at ``prefix``; return the archive's path."""
    fmt = infer_format(options.output, options.format)
    output = Path(os.path.abspath(options.output)) if options.output else default_output(prefix, options, fmt)
    check_output(output, prefix, options.force)
    plan = plan_members(prefix, files, arcroot=options.arcroot, dest_prefix=options.dest_prefix,
                        follow_symlinks=fmt == "zip" and not options.zip_symlinks,
                        env_vars=read_env_vars(prefix))
    log.info("Packing environment at '%s' to '%s'", prefix, output)
    with atomic_output(output) as fh:
        _write(fh, fmt, plan, options, _counter(plan, progress))
    return output


def _counter(plan: MemberPlan, progress: Optional[ProgressFn]) -> Callable[[int], None]:
    done = 0

    def advance(nbytes: int) -> None:
        nonlocal done
        done += nbytes
        if progress is not None:
            progress(done, plan.total_bytes)

    return advance


def _write(fh: BinaryIO, fmt: str, plan: MemberPlan, options: PackOptions,
           advance: Callable[[int], None]) -> None:
    if fmt == "zip":
        write_zip(fh, plan.members, plan.mtime, advance, level=options.compress_level, zip_64=options.zip_64)
        return
    sink = open_sink(fh, fmt.partition(".")[2] if "." in fmt else "", options.compress_level)
    write_tar(sink, plan.members, plan.mtime, advance)
    sink.close()
