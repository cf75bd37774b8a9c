"""Read OCI images from disk: an image layout directory or an OCI archive (one tar of it).

Nothing is extracted: blobs are read by digest, JSON documents with a size bound, and
every blob's bytes are checked against its digest as they are read. A layout's file
names come only from checked digests (``blobs/sha256/HEX``), so a hostile index cannot
name a path outside it; symlinks and non-regular entries are refused.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import IO, Any, Callable, Optional, Protocol

import attrs
import zstandard

from ..errors import ArchiveError
from ..unpack.safepath import UnsafePath, relative_path
from .spec import INDEX_TYPES, MANIFEST_TYPES, MAX_DOCUMENT, Descriptor, blob_path, parse_document

__all__ = ["ImageSource", "DirSource", "TarSource", "Image", "open_source", "read_image", "read_blob",
           "copy_blob", "check_layer", "platform_of", "image_digests"]

_CHUNK = 1 << 20


class ImageSource(Protocol):
    """Where an image's files are: ``index.json`` and ``blobs/sha256/HEX``."""

    name: str

    def open(self, path: str) -> IO[bytes]: ...

    def close(self) -> None: ...


class DirSource:
    """An OCI image layout directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = str(root)

    def open(self, path: str) -> IO[bytes]:
        """A regular file of the layout (never through a symlink)."""
        full = self.root / path
        try:
            fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            raise ArchiveError(f"{self.name}: {path} is missing; the image layout is incomplete") from None
        except OSError as exc:
            raise ArchiveError(f"{self.name}: cannot read {path} ({exc.strerror}); the image layout must "
                               "hold regular files, not symlinks") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ArchiveError(f"{self.name}: {path} is not a regular file; the image layout is damaged")
        return os.fdopen(fd, "rb")

    def close(self) -> None:
        """Nothing is held open."""


class TarSource:
    """An OCI archive: an image layout in one tar (``oci-archive:``, ``podman save``)."""

    def __init__(self, path: Path) -> None:
        import tarfile  # here: an image without a base reads no tar, and the module costs memory

        self.name = str(path)
        try:
            self._tar = tarfile.open(path, "r:")
            self._members = {m.name.removeprefix("./"): m for m in self._tar.getmembers()}
        except (tarfile.TarError, OSError) as exc:
            raise ArchiveError(f"{path}: not a readable OCI archive ({exc}); pass an OCI layout directory "
                               "or an uncompressed tar of one") from None

    def open(self, path: str) -> IO[bytes]:
        """A regular member of the archive."""
        member = self._members.get(path)
        if member is None:
            raise ArchiveError(f"{self.name}: {path} is missing; the OCI archive is incomplete")
        fh = self._tar.extractfile(member) if member.isreg() else None
        if fh is None:
            raise ArchiveError(f"{self.name}: {path} is not a regular file; the OCI archive is damaged")
        return fh

    def close(self) -> None:
        """Close the archive."""
        self._tar.close()


def open_source(path: Path) -> ImageSource:
    """An image layout directory, or an OCI archive file."""
    if path.is_dir():
        return DirSource(path)
    if path.is_file():
        return TarSource(path)
    raise ArchiveError(f"{path}: no such OCI layout directory or archive; build it with "
                       "`condapack pack --format oci` or `skopeo copy ... oci:DIR`")


def _read_bounded(fh: IO[bytes], limit: int, what: str) -> bytes:
    data = fh.read(limit + 1)
    if len(data) > limit:
        raise ArchiveError(f"{what}: more than {limit} bytes, more than an image document may have; "
                           "the image is damaged or hostile")
    return data


def read_blob(source: ImageSource, desc: Descriptor, what: str) -> dict[str, Any]:
    """A JSON blob (manifest, index, config), bounded and checked against its digest."""
    where = f"{source.name}: {what} {desc.digest[:19]}"
    if desc.size > MAX_DOCUMENT:
        raise ArchiveError(f"{where}: {desc.size} bytes, more than an image document may have "
                           f"({MAX_DOCUMENT}); the image is damaged or hostile")
    with source.open(blob_path(desc.digest)) as fh:
        data = _read_bounded(fh, desc.size, where)
    _check(data, desc, where)
    return parse_document(data, where)


def _check(data: bytes, desc: Descriptor, where: str) -> None:
    if len(data) != desc.size or "sha256:" + hashlib.sha256(data).hexdigest() != desc.digest:
        raise ArchiveError(f"{where}: the content does not match its digest and size; the image is damaged")


def copy_blob(source: ImageSource, desc: Descriptor, write: Callable[[bytes], object]) -> None:
    """Feed a blob's bytes to ``write``, checking size and digest as they pass (never recompressed)."""
    digest, copied = hashlib.sha256(), 0
    with source.open(blob_path(desc.digest)) as fh:
        while chunk := fh.read(min(_CHUNK, desc.size - copied + 1)):
            copied += len(chunk)
            if copied > desc.size:
                break
            digest.update(chunk)
            write(chunk)
    if copied != desc.size or "sha256:" + digest.hexdigest() != desc.digest:
        raise ArchiveError(f"{source.name}: blob {desc.digest[:19]}: the content does not match its digest "
                           "and size; the image is damaged")


def check_layer(path: Path, desc: Descriptor, where: str) -> None:
    """Refuse a layer with a name (or hard link target) that is absolute or climbs out with ``..``.

    Runtimes should refuse such layers too; an image condapack writes never carries one.
    """
    import tarfile  # here: an image without a base reads no tar, and the module costs memory

    try:
        with open(path, "rb") as raw:
            stream: IO[bytes] = zstandard.ZstdDecompressor().stream_reader(raw) \
                if desc.media_type.endswith("zstd") else raw  # tarfile reads gzip itself ("r|*")
            with tarfile.open(fileobj=stream, mode="r|*") as tar:
                for member in tar:
                    _check_name(member.name, desc, where)
                    if member.islnk():
                        _check_name(member.linkname, desc, where)
    except (tarfile.TarError, zstandard.ZstdError, OSError, EOFError) as exc:
        raise ArchiveError(f"{where}: layer {desc.digest[:19]} is not a readable tar ({exc}); "
                           "the base image is damaged") from None


def _check_name(name: str, desc: Descriptor, where: str) -> None:
    try:
        relative_path(name, allow_empty=True)
    except UnsafePath as exc:
        raise ArchiveError(f"{where}: layer {desc.digest[:19]} holds an unsafe path ({exc}); the base "
                           "image is hostile or damaged, pass another --base") from None


@attrs.frozen
class Image:
    """One single-platform image: its manifest, config and layers."""

    manifest: Descriptor
    manifest_doc: dict[str, Any]
    config: Descriptor
    config_doc: dict[str, Any]
    layers: tuple[Descriptor, ...]


def platform_of(config: dict[str, Any]) -> str:
    """``os/architecture[/variant]`` of an image config."""
    parts = [str(config.get("os", "")), str(config.get("architecture", ""))]
    return "/".join(parts + ([str(config["variant"])] if config.get("variant") else []))


def read_image(source: ImageSource, platform: Optional[str] = None) -> Image:
    """The image of a layout's ``index.json`` (the one for ``platform`` when it has several)."""
    with source.open("index.json") as fh:
        index = parse_document(_read_bounded(fh, MAX_DOCUMENT, f"{source.name}: index.json"),
                               f"{source.name}: index.json")
    desc = _choose(source, index, platform, "index.json")
    doc = read_blob(source, desc, "manifest")
    if desc.media_type in INDEX_TYPES or doc.get("mediaType") in INDEX_TYPES:
        desc = _choose(source, doc, platform, f"index {desc.digest[:19]}")
        doc = read_blob(source, desc, "manifest")
    where = f"{source.name}: manifest {desc.digest[:19]}"
    if doc.get("mediaType", MANIFEST_TYPES[0]) not in MANIFEST_TYPES:
        raise ArchiveError(f"{where}: media type {doc.get('mediaType')!r} is not an image manifest")
    config = Descriptor.of(doc.get("config"), f"{where}: config")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise ArchiveError(f"{where}: layers must be a list; the image is damaged")
    return Image(desc, doc, config, read_blob(source, config, "config"),
                 tuple(Descriptor.of(layer, f"{where}: layers[{i}]") for i, layer in enumerate(layers)))


def _choose(source: ImageSource, index: dict[str, Any], platform: Optional[str], what: str) -> Descriptor:
    where = f"{source.name}: {what}"
    manifests = index.get("manifests")
    if not isinstance(manifests, list) or not manifests:
        raise ArchiveError(f"{where}: no manifests; the image is damaged or empty")
    descs = [Descriptor.of(m, f"{where}: manifests[{i}]") for i, m in enumerate(manifests)]
    if len(descs) == 1:
        return descs[0]
    matching = [d for d in descs if d.platform and platform == _platform_text(d.platform)]
    if len(matching) != 1:
        shown = ", ".join(_platform_text(d.platform or {}) or "?" for d in descs)
        raise ArchiveError(f"{where}: {len(descs)} images ({shown}) and none is only for {platform}; "
                           "pass a base of one image or of this platform")
    return matching[0]


def _platform_text(platform: Any) -> str:
    return platform_of(dict(platform)) if isinstance(platform, dict) else ""


def image_digests(path: Path) -> tuple[str, tuple[str, ...]]:
    """The manifest digest and layer digests of the one image of a layout or archive."""
    source = open_source(path)
    try:
        image = read_image(source)
    finally:
        source.close()
    return image.manifest.digest, tuple(layer.digest for layer in image.layers)
