"""Pack an environment as an OCI image: where it lives in the image, its settings, its base, its layers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Sequence

from ..activation import read_env_vars
from ..archive.oci import BaseImage, ImageWrite, group_layers, write_image
from ..errors import ArchiveError
from ..layout import layout_for
from ..members import Roster, archive_mtime
from ..prefix import File
from ..records import PackageRecord
from .config import ImageSettings, activation_exports, created_at, platform_for, split_command
from .source import open_source, platform_of, read_image
from .spec import Descriptor

if TYPE_CHECKING:
    from ..archive.request import WriteRequest
    from ..options import PackOptions

__all__ = ["DEFAULT_PLACE", "image_place", "is_archive", "pack_image", "write_archive"]

#: Where the environment lives in the image unless --dest-prefix says otherwise.
DEFAULT_PLACE = "/opt/conda/envs/{name}"


def image_place(name: str, options: PackOptions, packages: Sequence[PackageRecord]) -> str:
    """The environment's prefix inside the image (the pack-time --dest-prefix)."""
    if options.arcroot:
        raise ArchiveError("--arcroot cannot be used with format oci; the environment is placed at "
                           "--dest-prefix (default /opt/conda/envs/NAME)")
    if layout_for(p.subdir for p in packages).windows:
        raise ArchiveError("format oci makes Linux container images, and this is a Windows environment; "
                           "use zip or tar.gz")
    return options.dest_prefix or DEFAULT_PLACE.format(name=name)


def is_archive(output: Path) -> bool:
    """An output named ``*.tar`` is an OCI archive; any other, an image layout directory."""
    return output.name.endswith(".tar")


def pack_image(prefix: Path, files: Sequence[File], roster: Roster, packages: Sequence[PackageRecord],
               options: PackOptions, output: Path, dest: str, advance: Callable[[int], None]) -> Descriptor:
    """Write the image of ``roster`` to ``output``; return its manifest's descriptor."""
    platform = platform_for(p.subdir for p in packages)
    env = [*activation_exports(roster.members, dest), *sorted(read_env_vars(prefix).items())]
    settings = ImageSettings(
        name=os.path.basename(dest.rstrip("/")) or prefix.name, dest_prefix=dest, platform=platform,
        env=tuple(env), created=created_at(archive_mtime()),
        entrypoint=_command(options.entrypoint, "--entrypoint"), cmd=_command(options.cmd, "--cmd"),
        workdir=options.workdir, user=options.user, labels=_labels(options))
    layers = group_layers(roster, files, packages, dest, options.layers)
    how = ImageWrite(options.layer_compression, options.compress_level, options.threads, is_archive(output))
    base = _open_base(options.base, platform_of(dict(platform))) if options.base else None
    try:
        return write_image(output, roster, layers, settings, base, how, advance)
    finally:
        if base is not None:
            base.source.close()


def write_archive(request: WriteRequest) -> None:
    """Format ``oci``'s writer: the image of the request's environment."""
    pack_image(request.prefix, request.files, request.roster, request.packages, request.options, request.output,
               request.dest_prefix, request.advance)


def _labels(options: PackOptions) -> dict[str, str]:
    """The annotations asked for by --image-source, --image-revision and --image-version."""
    asked = {"source": options.image_source, "revision": options.image_revision, "version": options.image_version}
    return {f"org.opencontainers.image.{key}": value for key, value in asked.items() if value is not None}


def _command(value: Optional[str], option: str) -> Optional[tuple[str, ...]]:
    words = split_command(value, option)
    return tuple(words) if words is not None else None


def _open_base(ref: str, platform: str) -> BaseImage:
    """The base image, read from a layout or archive on disk (or the registry cache)."""
    path = Path(ref)
    if not path.exists() and not ref.startswith((".", "/")):
        from .registry import pull_to_cache

        path = pull_to_cache(ref, platform)
    source = open_source(path)
    try:
        image = read_image(source, platform)
        found = platform_of(image.config_doc)
        if found != platform:
            raise ArchiveError(f"--base {ref}: the base image is for {found}, the environment for {platform}; "
                               "pass a base of the same platform")
    except BaseException:
        source.close()
        raise
    return BaseImage(source, image, ref)
