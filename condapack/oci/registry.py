"""Push an image to a registry and pull a base image from one (the OCI distribution API).

Push: every blob is checked with HEAD and only missing ones are uploaded (POST, then one
PUT with the whole blob), then the manifest; the registry's digest of the manifest
must be ours. Pull: the manifest (the platform's, from an index), config and layers are
written as an image layout in the cache, one directory per manifest digest, so a base
is downloaded once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import urllib.parse
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Mapping, Optional, Sequence

import attrs

from ..errors import ArchiveError, RegistryError
from .client import Client, Reference, Response, parse_reference
from .referrer import fallback_tag, sbom_manifest, with_referrer
from .source import ImageSource, open_source, platform_of, read_blob
from .spec import (
    INDEX,
    INDEX_TYPES,
    MANIFEST,
    MANIFEST_TYPES,
    REF_NAME,
    Descriptor,
    blob_path,
    canonical_json,
    parse_document,
    sha256_digest,
)

__all__ = ["PushResult", "push", "push_images", "pull_to_cache", "cache_root"]

_ACCEPT = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))


@attrs.frozen
class PushResult:
    """What a push did: the reference, the manifest digest, blobs uploaded and skipped."""

    reference: str
    digest: str
    uploaded: tuple[str, ...]
    uploaded_bytes: int
    skipped: tuple[str, ...]


def push(layout: Path, target: str, *, sbom: Optional[Path] = None, insecure: bool = False,
         timeout: float = 30.0, environ: Mapping[str, str] = os.environ) -> PushResult:
    """Push the image (or the index of images) of an OCI layout or archive to ``target``."""
    return push_images([layout], target, [sbom], insecure=insecure, timeout=timeout, environ=environ)


def push_images(layouts: Sequence[Path], target: str, sboms: Sequence[Optional[Path]] = (), *,
                insecure: bool = False, timeout: float = 30.0,
                environ: Mapping[str, str] = os.environ) -> PushResult:
    """Push the images of several layouts (one platform each) under one tag, as an image index.

    One layout is pushed as it is (its one manifest, or an index of its manifests). An
    image with an SBOM (``sboms``, by position) gets it attached as a referrer.
    """
    ref = parse_reference(target)
    if ref.digest:
        raise RegistryError(f"{target}: push to a tag (REGISTRY/REPOSITORY:TAG), not a digest")
    pusher = _Pusher(Client(ref, insecure=insecure, timeout=timeout, environ=environ))
    sboms = [*sboms, *[None] * (len(layouts) - len(sboms))]
    if len(layouts) == 1:
        return pusher.tagged(layouts[0], ref.target, sboms[0])
    entries = [pusher.by_digest(layout, sbom) for layout, sbom in zip(layouts, sboms)]
    platforms = [platform_of(dict(entry.platform or {})) for entry in entries]
    twice = sorted({p for p in platforms if platforms.count(p) > 1})
    if twice:
        raise RegistryError(f"{target}: {len(layouts)} images for it, two for {twice[0]}; an image index holds "
                            "one image per platform: push them to different tags")
    docs = sorted((attrs.evolve(entry, annotations=None).doc() for entry in entries), key=_platform_key)
    index = canonical_json({"schemaVersion": 2, "mediaType": INDEX, "manifests": docs})
    return pusher.result(pusher.manifest(index, INDEX, ref.target))


def _platform_key(doc: Mapping[str, Any]) -> str:
    return platform_of(dict(doc.get("platform") or {}))


def _top(source: ImageSource) -> tuple[bytes, str, Optional[Descriptor]]:
    """What the tag will name: the layout's one manifest (and its descriptor), else an index of all."""
    with source.open("index.json") as fh:
        index = parse_document(fh.read(1 << 22), f"{source.name}: index.json")
    manifests = [Descriptor.of(m, f"{source.name}: index.json") for m in index.get("manifests") or []]
    if not manifests:
        raise ArchiveError(f"{source.name}: index.json lists no image; build one with --format oci")
    if len(manifests) == 1:
        with source.open(blob_path(manifests[0].digest)) as fh:
            return fh.read(manifests[0].size + 1), manifests[0].media_type, manifests[0]
    docs = [{k: v for k, v in d.doc().items() if k != "annotations"} for d in manifests]
    return canonical_json({"schemaVersion": 2, "mediaType": INDEX, "manifests": docs}), INDEX, None


@contextlib.contextmanager
def _opened(layout: Path) -> Iterator[tuple[ImageSource, tuple[bytes, str, Optional[Descriptor]]]]:
    source = open_source(layout)
    try:
        yield source, _top(source)
    finally:
        source.close()


class _Pusher:
    """Pushes documents and their blobs through one client, each blob at most once."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.uploaded: list[str] = []
        self.skipped: list[str] = []
        self.bytes = 0

    def tagged(self, layout: Path, tag: str, sbom: Optional[Path] = None) -> PushResult:
        """Push a layout's image (or index) under ``tag``, and its SBOM."""
        with _opened(layout) as (source, (data, media_type, desc)):
            digest = self._document(source, data, media_type, tag)
        if sbom is not None:
            if desc is None:
                raise ArchiveError(f"{layout}: holds several images; an SBOM is attached to one image")
            self.attach(desc, sbom)
        return self.result(digest)

    def by_digest(self, layout: Path, sbom: Optional[Path] = None) -> Descriptor:
        """Push a layout's one image by its digest (for an index), and its SBOM; its descriptor."""
        with _opened(layout) as (source, (data, media_type, desc)):
            if desc is None:
                raise ArchiveError(f"{layout}: holds several images; an image index takes one per layout")
            self._document(source, data, media_type, desc.digest)
        if sbom is not None:
            self.attach(desc, sbom)
        return desc

    def attach(self, subject: Descriptor, sbom: Path) -> None:
        """Push ``sbom`` as a referrer of ``subject``, listed under the fallback tag unless the
        registry keeps referrers itself (it answers the manifest with ``OCI-Subject``)."""
        try:
            content = sbom.read_bytes()
        except OSError as exc:
            raise ArchiveError(f"{sbom}: cannot read the SBOM ({exc.strerror}); build it with --sbom") from None
        data, blobs = sbom_manifest(subject, content, sbom.name)
        for desc in blobs.descriptors:
            self._blob(blobs, desc)
        if "oci-subject" in self._put(data, MANIFEST, sha256_digest(data)).headers:
            return
        tag = fallback_tag(subject)
        got = self.client.call("GET", self.client.url(f"manifests/{tag}"), (200, 404), headers={"Accept": INDEX})
        index = with_referrer(got.body if got.status == 200 else None, data, f"{self.client.ref.host}: {tag}")
        if index is not None:
            self.manifest(index, INDEX, tag)

    def result(self, digest: str) -> PushResult:
        return PushResult(str(self.client.ref), digest, tuple(self.uploaded), self.bytes, tuple(self.skipped))

    def _document(self, source: ImageSource, data: bytes, media_type: str, tag: str) -> str:
        """Push what a manifest or index refers to, then it (under ``tag``); its digest."""
        doc = parse_document(data, f"{source.name}: manifest")
        if media_type in INDEX_TYPES:
            for i, child in enumerate(doc.get("manifests") or []):
                desc = Descriptor.of(child, f"manifests[{i}]")
                read_blob(source, desc, "manifest")  # checked before it is sent
                with source.open(blob_path(desc.digest)) as fh:
                    self._document(source, fh.read(desc.size + 1), desc.media_type, desc.digest)
        else:
            for i, blob in enumerate([doc.get("config"), *(doc.get("layers") or [])]):
                self._blob(source, Descriptor.of(blob, f"{source.name}: blobs[{i}]"))
        return self.manifest(data, media_type, tag)

    def _blob(self, source: ImageSource, desc: Descriptor) -> None:
        if desc.digest in self.uploaded or desc.digest in self.skipped:
            return
        head = self.client.call("HEAD", self.client.url(f"blobs/{desc.digest}"), (200, 404))
        if head.status == 200:
            self.skipped.append(desc.digest)
            return
        started = self.client.call("POST", self.client.url("blobs/uploads/"), (202,),
                                   headers={"Content-Length": "0"}, body=b"")
        location = started.headers.get("location")
        if not location:
            raise RegistryError(f"{self.client.ref.host}: started an upload but gave no Location")
        url = _with_digest(self.client.url(""), location, desc.digest)
        opener: Callable[[], IO[bytes]] = lambda: source.open(blob_path(desc.digest))  # noqa: E731
        done = self.client.call("PUT", url, (201,), body=opener, limit=1 << 16, headers={
            "Content-Type": "application/octet-stream", "Content-Length": str(desc.size)})
        _check_answer(done, desc.digest, self.client.ref)
        self.uploaded.append(desc.digest)
        self.bytes += desc.size

    def manifest(self, data: bytes, media_type: str, tag: str) -> str:
        """Put a manifest or index under ``tag``; its digest."""
        self._put(data, media_type, tag)
        return sha256_digest(data)

    def _put(self, data: bytes, media_type: str, tag: str) -> Response:
        done = self.client.call("PUT", self.client.url(f"manifests/{tag}"), (200, 201), body=data, headers={
            "Content-Type": media_type, "Content-Length": str(len(data))})
        _check_answer(done, sha256_digest(data), self.client.ref)
        self.bytes += len(data)
        return done


def _with_digest(base: str, location: str, digest: str) -> str:
    url = urllib.parse.urljoin(base, location)
    return url + ("&" if "?" in url else "?") + urllib.parse.urlencode({"digest": digest})


def _check_answer(response: Response, digest: str, ref: Reference) -> None:
    answered = response.headers.get("docker-content-digest")
    if answered and answered != digest:
        raise RegistryError(f"{ref.host}: stored {digest[:19]} as {answered[:19]}; the registry or something "
                            "between us changed the bytes")


def cache_root(environ: Mapping[str, str] = os.environ) -> Path:
    """Where pulled base images are kept: ``$XDG_CACHE_HOME/condapack/images`` (else ``~/.cache``)."""
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "condapack" / "images"


def pull_to_cache(target: str, platform: str, *, insecure: bool = False, timeout: float = 30.0,
                  environ: Mapping[str, str] = os.environ) -> Path:
    """The image layout of ``target`` for ``platform`` in the cache, pulled unless already there."""
    ref = parse_reference(target)
    if ref.digest and (cache_root(environ) / ref.digest[7:] / "index.json").is_file():
        return cache_root(environ) / ref.digest[7:]  # content by digest: nothing to ask the registry
    client = Client(ref, insecure=insecure, timeout=timeout, environ=environ)
    desc, data = _manifest_for(client, ref.target, platform)
    root = cache_root(environ) / desc.digest.split(":", 1)[1]
    if (root / "index.json").is_file():
        return root
    tmp = root.with_name(root.name + f".{os.getpid()}.part")
    (tmp / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (tmp / blob_path(desc.digest)).write_bytes(data)
    manifest = parse_document(data, f"{target}: manifest")
    for i, blob in enumerate([manifest.get("config"), *(manifest.get("layers") or [])]):
        _download(client, Descriptor.of(blob, f"{target}: blobs[{i}]"), tmp)
    index = {"schemaVersion": 2, "mediaType": INDEX,
             "manifests": [attrs.evolve(desc, annotations={REF_NAME: ref.tag or "latest"}).doc()]}
    (tmp / "index.json").write_bytes(canonical_json(index))
    (tmp / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
    if root.exists():  # pulled meanwhile by another condapack
        shutil.rmtree(tmp)
    else:
        os.replace(tmp, root)
    return root


def _manifest_for(client: Client, target: str, platform: str) -> tuple[Descriptor, bytes]:
    """The single-platform manifest ``target`` names (choosing ``platform`` from an index)."""
    for _depth in range(2):
        got = client.call("GET", client.url(f"manifests/{target}"), (200,), headers={"Accept": _ACCEPT})
        media_type = got.headers.get("content-type", "").split(";")[0].strip()
        digest = sha256_digest(got.body)
        if target.startswith("sha256:") and digest != target:
            raise RegistryError(f"{client.ref.host}: manifest {target[:19]} arrived as {digest[:19]}; "
                                "the registry answered wrong bytes")
        doc = parse_document(got.body, f"{client.ref}: manifest")
        media_type = str(doc.get("mediaType") or media_type)
        if media_type not in INDEX_TYPES:
            return Descriptor(media_type or MANIFEST_TYPES[0], digest, len(got.body)), got.body
        target = _platform_entry(doc, platform, str(client.ref))
    raise RegistryError(f"{client.ref}: an index inside an index; pass the platform's image by digest")


def _platform_entry(index: dict[str, object], platform: str, name: str) -> str:
    manifests = index.get("manifests")
    for i, entry in enumerate(manifests if isinstance(manifests, list) else []):
        desc = Descriptor.of(entry, f"{name}: manifests[{i}]")
        p = desc.platform or {}
        if "/".join(filter(None, (p.get("os"), p.get("architecture"), p.get("variant")))) == platform:
            return desc.digest
    raise RegistryError(f"{name}: has no image for {platform}; pass a base built for it")


def _download(client: Client, desc: Descriptor, root: Path) -> None:
    path = root / blob_path(desc.digest)
    if path.is_file():
        return
    digest = hashlib.sha256()
    part = path.with_name(path.name + ".part")
    with open(part, "wb") as fh:
        def write(chunk: bytes) -> None:
            digest.update(chunk)
            fh.write(chunk)

        client.call("GET", client.url(f"blobs/{desc.digest}"), (200,), sink=write, limit=desc.size)
    if "sha256:" + digest.hexdigest() != desc.digest or part.stat().st_size != desc.size:
        part.unlink()
        raise RegistryError(f"{client.ref.host}: blob {desc.digest[:19]} arrived with other bytes; the registry "
                            "answered wrong content")
    os.replace(part, path)
