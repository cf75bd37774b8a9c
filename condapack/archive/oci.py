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

import hashlib
import os
import shutil
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Mapping, Optional, Sequence, cast

import attrs

from ..members import Member, MemberPlan
from ..oci.config import ImageSettings, image_config
from ..oci.source import Image, ImageSource, check_layer, copy_blob
from ..oci.spec import CONFIG, INDEX, LAYER_TYPES, MANIFEST, REF_NAME, Descriptor, blob_path, canonical_json
from ..output import atomic_output, temp_name
from ..prefix import File
from ..records import PackageRecord
from .compress import Sink, copy_by_reading, open_sink
from .directory import atomic_directory
from .tar import write_tar

__all__ = ["LayerSpec", "plan_layers", "BaseImage", "ImageWrite", "write_image", "TAG"]

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


def plan_layers(plan: MemberPlan, files: Sequence[File], packages: Sequence[PackageRecord], root: str,
                budget: int) -> tuple[LayerSpec, ...]:
    """Group members into layers: per package (hashed into ``budget`` layers when more), unmanaged, own."""
    root = root.strip("/") + "/" if root.strip("/") else ""
    owner = {root + f.target: f.package for f in files if f.package}
    ids = [p.identity for p in packages]
    owner.update({f"{root}conda-meta/{i.name}-{i.version}-{i.build}.json": i.label for i in ids})
    names = {i.label: i.name for i in ids}
    groups: dict[str, list[Member]] = {}
    for member in plan.members:
        label = owner.get(member.name) or (OWN if member.data is not None else UNMANAGED)
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
    parents = {name[:i] for m in members for name in [m.name] for i in range(len(name)) if name[i] == "/"}
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


class _HashingFile:
    """A file object that hashes and counts what is written (the compressed layer's digest)."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.digest, self.size = fh, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.fh.write(data)

    def flush(self) -> None:
        self.fh.flush()


class _DiffIdSink:
    """A sink that hashes the uncompressed tar (the layer's diff_id) on its way to the compressor."""

    def __init__(self, inner: Sink) -> None:
        self.inner, self.digest = inner, hashlib.sha256()

    def write(self, data: bytes | bytearray) -> None:
        self.digest.update(data)
        self.inner.write(data)

    def copy_fd(self, fd: int, size: int) -> int:
        return copy_by_reading(self.write, fd, size)

    def close(self) -> None:
        self.inner.close()

    def abort(self) -> None:
        self.inner.abort()


def _write_layer(root: Path, spec: LayerSpec, mtime: int, how: ImageWrite,
                 advance: Progress) -> tuple[Descriptor, str]:
    """One layer blob under ``root``; its descriptor and diff_id."""
    tmp = root / "blobs" / "sha256" / ".layer.part"
    with open(tmp, "wb") as fh:
        out = _HashingFile(fh)
        sink = _DiffIdSink(open_sink(cast(BinaryIO, out), _CODECS[how.compression], how.level, how.threads))
        try:
            write_tar(sink, spec.members, mtime, advance)
            sink.close()
        except BaseException:
            sink.abort()
            raise
    digest = "sha256:" + out.digest.hexdigest()
    os.replace(tmp, root / blob_path(digest))
    return Descriptor(LAYER_TYPES[how.compression], digest, out.size), "sha256:" + sink.digest.hexdigest()


def _write_blob(root: Path, data: bytes, media_type: str) -> Descriptor:
    desc = Descriptor(media_type, "sha256:" + hashlib.sha256(data).hexdigest(), len(data))
    (root / blob_path(desc.digest)).write_bytes(data)
    return desc


def _copy_base(root: Path, base: BaseImage) -> list[Descriptor]:
    """The base's layers, copied byte for byte (checked against their digests)."""
    out = []
    for desc in base.image.layers:
        path = root / blob_path(desc.digest)
        if not path.exists():
            tmp = root / "blobs" / "sha256" / ".base.part"
            with open(tmp, "wb") as fh:
                copy_blob(base.source, desc, fh.write)
            check_layer(tmp, desc, f"--base {base.name}")
            os.replace(tmp, path)
        out.append(attrs.evolve(desc, media_type=_DOCKER_LAYERS.get(desc.media_type, desc.media_type),
                                platform=None))
    return out


def _write_layout(root: Path, plan: MemberPlan, layers: Sequence[LayerSpec], settings: ImageSettings,
                  base: Optional[BaseImage], how: ImageWrite, advance: Progress) -> Descriptor:
    """Every blob, ``index.json`` and ``oci-layout`` under ``root``; the manifest's descriptor."""
    (root / "blobs" / "sha256").mkdir(parents=True)
    descs = _copy_base(root, base) if base is not None else []
    diff_ids = []
    for spec in layers:
        desc, diff_id = _write_layer(root, spec, plan.mtime, how, advance)
        descs.append(desc)
        diff_ids.append(diff_id)
    config = image_config(settings, diff_ids, [spec.what for spec in layers],
                          base.image.config_doc if base is not None else None)
    config_desc = _write_blob(root, canonical_json(config), CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST, "config": config_desc.doc(),
                "layers": [d.doc() for d in descs], "annotations": _annotations(settings, base)}
    manifest_desc = attrs.evolve(_write_blob(root, canonical_json(manifest), MANIFEST),
                                 platform=settings.platform, annotations={REF_NAME: TAG})
    index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": [manifest_desc.doc()]}
    (root / "index.json").write_bytes(canonical_json(index))
    (root / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
    return manifest_desc


def _annotations(settings: ImageSettings, base: Optional[BaseImage]) -> Mapping[str, str]:
    out = {"org.opencontainers.image.created": settings.created, "org.opencontainers.image.title": settings.name}
    if base is not None:
        out["org.opencontainers.image.base.digest"] = base.image.manifest.digest
        out["org.opencontainers.image.base.name"] = base.name
    return out


def write_image(output: Path, plan: MemberPlan, layers: Sequence[LayerSpec], settings: ImageSettings,
                base: Optional[BaseImage], how: ImageWrite, advance: Progress) -> Descriptor:
    """Write the image to ``output`` (atomically); return its manifest's descriptor."""
    if not how.archive:
        with atomic_directory(output) as root:
            return _write_layout(root, plan, layers, settings, base, how, advance)
    staging = Path(temp_name(output, ".part"))
    os.mkdir(staging, 0o700)
    try:
        manifest = _write_layout(staging, plan, layers, settings, base, how, advance)
        with atomic_output(output) as fh:
            sink = open_sink(fh, "", 0)
            write_tar(sink, _layout_members(staging), plan.mtime, lambda _n: None)
            sink.close()
        return manifest
    finally:
        _remove_tree(staging)


def _layout_members(root: Path) -> tuple[Member, ...]:
    """An image layout directory as tar members, in name order."""
    blobs = sorted(p.name for p in (root / "blobs" / "sha256").iterdir())
    files = ["oci-layout", "index.json", *(f"blobs/sha256/{name}" for name in blobs)]
    dirs = [Member(name=d, kind="dir", mode=0o755) for d in ("blobs", "blobs/sha256")]
    return tuple(sorted([*dirs, *(Member(name=f, kind="file", mode=0o644, size=(root / f).stat().st_size,
                                         source=str(root / f)) for f in files)], key=lambda m: m.name))


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)

