"""Write an environment as an OCI image: a layout directory, or an OCI archive (one tar of it).

Layers follow the packages: each conda package's files (with its ``conda-meta`` record)
in one layer, files no package owns in one, and condapack's own files (activation) in
one. Over the layer budget, packages share layers by a hash of their name, so one
package's update still changes one layer. Each layer is a tar made by the same writer
and rules as every other format, compressed by the same deterministic parallel sinks,
so the same environment gives the same layer, config and manifest digests on any
machine and at any ``-j``. A base image's layers are copied by digest, never
recompressed.
"""

from __future__ import annotations

import contextlib
import hashlib
from concurrent.futures import Future
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, Mapping, Optional, Sequence

import attrs

from ..members import Member, Roster
from ..oci.config import ImageSettings, image_config
from ..oci.source import Image, ImageSource, check_layer, copy_blob
from ..oci.spec import CONFIG, INDEX, LAYER_TYPES, MANIFEST, REF_NAME, Descriptor, canonical_json
from ..oci.store import ArchiveStore, BlobStore, DirectoryStore
from ..output import atomic_output, temp_name
from ..prefix import File
from ..records import PackageRecord
from ..unpack.safepath import relative_path
from .directory import atomic_directory
from .sink import Blocks, open_stream
from .tar import write_tar

__all__ = ["LayerSpec", "group_layers", "BaseImage", "ImageWrite", "write_image", "TAG"]

Progress = Callable[[int], None]

#: The tag an image has in the ``index.json`` condapack writes.
TAG = "latest"
_CODECS = {"gzip": "gz", "zstd": "zst"}
_DOCKER_LAYERS = {"application/vnd.docker.image.rootfs.diff.tar.gzip": LAYER_TYPES["gzip"],
                  "application/vnd.docker.image.rootfs.diff.tar.zstd": LAYER_TYPES["zstd"]}
UNMANAGED = "files no package owns"
OWN = "condapack's activation files"


@attrs.frozen
class LayerSpec:
    """One layer to write: what it holds (for the history) and its members."""

    what: str
    members: tuple[Member, ...]


def group_layers(roster: Roster, files: Sequence[File], packages: Sequence[PackageRecord], root: str,
                budget: int) -> tuple[LayerSpec, ...]:
    """Group members into layers: per package (hashed into ``budget`` layers when more), unmanaged, own."""
    base = relative_path(root.lstrip("/"), allow_empty=True)  # spelled as the roster's arcroot is
    cut = len(base) + 1 if base else 0  # every member's name starts with it and a /
    owner = {f.target: f.package for f in files if f.package}  # keyed by the files' own strings: no copies
    ids = [p.identity for p in packages]
    owner.update({f"conda-meta/{i.name}-{i.version}-{i.build}.json": i.label for i in ids})
    names = {i.label: i.name for i in ids}
    groups: dict[str, list[Member]] = {}
    for member in roster.members:
        label = owner.get(member.name[cut:]) or (OWN if member.data is not None else UNMANAGED)
        groups.setdefault(label, []).append(member)
    labels = sorted((label for label in groups if label in names), key=lambda label: names[label])
    buckets: dict[str, list[str]] = {}
    for label in labels:
        key = label if len(labels) <= budget else _bucket(names[label], budget)
        buckets.setdefault(key, []).append(label)
    specs = [LayerSpec(", ".join(group), _sorted(m for label in group for m in groups[label]))
             for _key, group in sorted(buckets.items())]
    specs += [LayerSpec(what, tuple(groups[what])) for what in (UNMANAGED, OWN) if what in groups]
    return tuple(attrs.evolve(spec, members=_with_parents(spec.members)) for spec in specs)


def _bucket(name: str, budget: int) -> str:
    """A package's shared layer: the same for the same name whatever else is installed."""
    return "%04d" % (int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % budget)


def _sorted(members: Iterable[Member]) -> tuple[Member, ...]:
    return tuple(sorted(members, key=lambda m: m.name))


def _with_parents(members: tuple[Member, ...]) -> tuple[Member, ...]:
    """The members with an entry for each directory above them, so every layer unpacks alone."""
    have = {m.name for m in members if m.kind == "dir"}
    parents: set[str] = set()
    for member in members:
        name = member.name
        while (cut := name.rfind("/")) > 0 and name[:cut] not in parents:  # its own parents are in already
            name = name[:cut]
            parents.add(name)
    extra = [Member(name=p, kind="dir", mode=0o755) for p in parents - have]
    return tuple(sorted((*members, *extra), key=lambda m: m.name))


@attrs.frozen
class BaseImage:
    """A base image to stack the environment on, and where its blobs are read from."""

    source: ImageSource
    image: Image
    name: str


@attrs.frozen
class ImageWrite:
    """How to write the image: layer compression, level, threads, and a directory or a tar."""

    compression: str
    level: int
    threads: int
    archive: bool


class _Layer:
    """One layer blob as the compression queue writes it: its file, digest, size and diff_id.

    Both digests are computed on the queue's observer thread, off the thread that writes the tar.
    """

    def __init__(self, store: BlobStore, media_type: str, blocks: Blocks) -> None:
        self.store, self.media_type, self.blocks = store, media_type, blocks
        self.fh: Optional[BinaryIO] = None
        self.digest, self.size = hashlib.sha256(), 0  # the compressed blob's
        self.diff_id = hashlib.sha256()  # the tar's
        self.hashed: Optional[Future[object]] = None

    def begin(self) -> None:
        self.fh = self.store.begin()

    def write(self, data: bytes) -> None:
        assert self.fh is not None
        self.fh.write(data)
        self.size += len(data)
        self.hashed = self.blocks.observe(self.digest.update, data)

    def end(self) -> None:
        self.close()
        if self.hashed is not None:
            self.hashed.result()
        self.store.end("sha256:" + self.digest.hexdigest(), self.size)

    def close(self) -> None:
        """Close the blob's file if it is the layer's own (a layout's), not the archive's."""
        if self.fh is not None and isinstance(self.store, DirectoryStore):
            self.fh.close()

    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, "sha256:" + self.digest.hexdigest(), self.size)


def _write_layers(store: BlobStore, layers: Sequence[LayerSpec], mtime: int, how: ImageWrite,
                  advance: Progress) -> list[_Layer]:
    """Every layer blob, in order, through one compression queue: a layer's tar is cut into
    blocks while the last blocks of the layer before it are still compressing."""
    blocks, written = Blocks(how.threads), []
    try:
        for spec in layers:
            layer = _Layer(store, LAYER_TYPES[how.compression], blocks)
            written.append(layer)
            blocks.then(layer.begin)
            sink = open_stream(blocks, layer.write, _CODECS[how.compression], how.level, how.threads,
                               layer.diff_id.update)
            write_tar(sink, spec.members, mtime, advance)
            sink.close()
            blocks.then(layer.end)
        blocks.close()
    except BaseException:
        blocks.abort()
        for layer in written:
            layer.close()
        raise
    return written


def _write_blob(store: BlobStore, data: bytes, media_type: str) -> Descriptor:
    desc = Descriptor(media_type, "sha256:" + hashlib.sha256(data).hexdigest(), len(data))
    with _closing(store) as fh:
        fh.write(data)
    store.end(desc.digest, desc.size)
    return desc


def _copy_base(store: BlobStore, base: BaseImage, part: Path) -> list[Descriptor]:
    """The base's layers, copied byte for byte (checked against their digests)."""
    out = []
    for desc in base.image.layers:
        if not store.has(desc.digest):
            with open(part, "wb") as fh:
                copy_blob(base.source, desc, fh.write)
            check_layer(part, desc, f"--base {base.name}")
            store.adopt(part, desc.digest)
        out.append(attrs.evolve(desc, media_type=_DOCKER_LAYERS.get(desc.media_type, desc.media_type),
                                platform=None))
    return out


def _write_layout(store: BlobStore, part: Path, roster: Roster, layers: Sequence[LayerSpec],
                  settings: ImageSettings, base: Optional[BaseImage], how: ImageWrite,
                  advance: Progress) -> Descriptor:
    """Every blob, ``oci-layout`` and ``index.json``; the manifest's descriptor."""
    store.put("oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"}))
    descs = _copy_base(store, base, part) if base is not None else []
    written = _write_layers(store, layers, roster.mtime, how, advance)
    descs += [layer.descriptor() for layer in written]
    diff_ids = ["sha256:" + layer.diff_id.hexdigest() for layer in written]
    config = image_config(settings, diff_ids, [spec.what for spec in layers],
                          base.image.config_doc if base is not None else None)
    config_desc = _write_blob(store, canonical_json(config), CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST, "config": config_desc.doc(),
                "layers": [d.doc() for d in descs], "annotations": _annotations(settings, base)}
    manifest_desc = attrs.evolve(_write_blob(store, canonical_json(manifest), MANIFEST),
                                 platform=settings.platform, annotations={REF_NAME: TAG})
    index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": [manifest_desc.doc()]}
    store.put("index.json", canonical_json(index))
    return manifest_desc


def _annotations(settings: ImageSettings, base: Optional[BaseImage]) -> Mapping[str, str]:
    out = {"org.opencontainers.image.created": settings.created, "org.opencontainers.image.title": settings.name,
           **settings.labels}
    if base is not None:
        out["org.opencontainers.image.base.digest"] = base.image.manifest.digest
        out["org.opencontainers.image.base.name"] = base.name
    return out


def write_image(output: Path, roster: Roster, layers: Sequence[LayerSpec], settings: ImageSettings,
                base: Optional[BaseImage], how: ImageWrite, advance: Progress) -> Descriptor:
    """Write the image to ``output`` (atomically); return its manifest's descriptor."""
    part = Path(temp_name(output, ".base"))
    try:
        if not how.archive:
            with atomic_directory(output) as root:
                return _write_layout(DirectoryStore(root), part, roster, layers, settings, base, how, advance)
        with atomic_output(output) as fh:
            store = ArchiveStore(fh, roster.mtime)
            manifest = _write_layout(store, part, roster, layers, settings, base, how, advance)
            store.close()
            return manifest
    finally:
        part.unlink(missing_ok=True)


@contextlib.contextmanager
def _closing(store: BlobStore) -> Iterator[BinaryIO]:
    """The file of a blob begun in ``store``, closed afterwards when it is the store's own."""
    fh = store.begin()
    try:
        yield fh
    finally:
        if isinstance(store, DirectoryStore):
            fh.close()
