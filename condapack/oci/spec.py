"""The OCI image-spec 1.1 vocabulary: media types, digests, descriptors, canonical JSON.

Every JSON document condapack writes (config, manifest, index) is canonical (sorted
keys, no spaces), so its digest depends only on its content.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Mapping, Optional

import attrs

from ..errors import ArchiveError

__all__ = ["MANIFEST", "INDEX", "CONFIG", "LAYER_TYPES", "MANIFEST_TYPES", "INDEX_TYPES", "MAX_DOCUMENT",
           "Descriptor", "canonical_json", "sha256_digest", "check_digest", "blob_path", "REF_NAME", "parse_document"]

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
#: Layer compression (the ``layer-compression`` option) -> the media type of such a layer.
LAYER_TYPES = {"gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
               "zstd": "application/vnd.oci.image.layer.v1.tar+zstd"}
#: Single-platform manifests a base image may be (Docker's v2 schema 2 is the same shape).
MANIFEST_TYPES = (MANIFEST, "application/vnd.docker.distribution.manifest.v2+json")
INDEX_TYPES = (INDEX, "application/vnd.docker.distribution.manifest.list.v2+json")
#: The most bytes a manifest, index or config may have: registries refuse more than 4 MiB.
MAX_DOCUMENT = 4 << 20
#: The annotation that names an image in an ``index.json`` (its tag).
REF_NAME = "org.opencontainers.image.ref.name"

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")


def canonical_json(doc: Mapping[str, Any]) -> bytes:
    """A document's bytes: sorted keys, no insignificant space, UTF-8."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_digest(data: bytes) -> str:
    """``sha256:HEX`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(value: object, where: str) -> str:
    """A sha256 digest as the spec spells it; anything else (another algorithm, a path) is refused."""
    if not isinstance(value, str) or not _DIGEST.match(value):
        raise ArchiveError(f"{where}: {str(value)[:80]!r} is not a sha256 digest (sha256:<64 hex digits>); "
                           "the image is damaged or not an OCI image")
    return value


def blob_path(digest: str) -> str:
    """Where a blob lives in an image layout: ``blobs/sha256/HEX``."""
    return "blobs/sha256/" + digest.split(":", 1)[1]


@attrs.frozen
class Descriptor:
    """A reference to a blob: what it is, its digest and size (and a platform or annotations)."""

    media_type: str
    digest: str
    size: int
    platform: Optional[Mapping[str, str]] = None
    annotations: Optional[Mapping[str, str]] = None

    def doc(self) -> dict[str, Any]:
        """The descriptor as JSON."""
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.platform:
            out["platform"] = dict(self.platform)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def of(cls, doc: object, where: str) -> Descriptor:
        """Read a descriptor from JSON, checking its digest and size."""
        if not isinstance(doc, dict):
            raise ArchiveError(f"{where}: a descriptor must be an object; the image is damaged")
        size = doc.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ArchiveError(f"{where}: size {size!r} is not a byte count; the image is damaged")
        media_type = doc.get("mediaType", "")
        platform, annotations = doc.get("platform"), doc.get("annotations")
        return cls(str(media_type), check_digest(doc.get("digest"), where), size,
                   platform if isinstance(platform, dict) else None,
                   annotations if isinstance(annotations, dict) else None)


def parse_document(data: bytes, where: str) -> dict[str, Any]:
    """A JSON object (manifest, index, config); anything else is a one-line error."""
    if len(data) > MAX_DOCUMENT:
        raise ArchiveError(f"{where}: {len(data)} bytes, more than an image document may have "
                           f"({MAX_DOCUMENT}); the image is damaged or hostile")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"{where}: not valid JSON ({exc}); the image is damaged") from None
    if not isinstance(doc, dict):
        raise ArchiveError(f"{where}: not a JSON object; the image is damaged")
    return doc
