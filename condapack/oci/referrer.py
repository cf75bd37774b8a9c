"""An SBOM attached to an image in a registry: an OCI 1.1 referrer (a manifest whose ``subject``
is the image), listed under the referrers tag schema (``sha256-HEX``) for registries
without the referrers API. Only documents are made here; :mod:`.registry` sends them.
"""

from __future__ import annotations

import io
from typing import IO, Any, Optional, Sequence

from .spec import INDEX, MANIFEST, Descriptor, blob_path, canonical_json, parse_document, sha256_digest

__all__ = ["SBOM_TYPE", "EMPTY_CONFIG", "BlobsInMemory", "sbom_manifest", "fallback_tag", "with_referrer"]

#: The artifact type (and layer media type) of a CycloneDX JSON SBOM.
SBOM_TYPE = "application/vnd.cyclonedx+json"
EMPTY_CONFIG = Descriptor("application/vnd.oci.empty.v1+json", sha256_digest(b"{}"), 2)
_TITLE = "org.opencontainers.image.title"


class BlobsInMemory:
    """An image source of a few blobs held in memory (what a referrer pushes)."""

    def __init__(self, name: str, blobs: Sequence[tuple[Descriptor, bytes]]) -> None:
        self.name = name
        self.descriptors = tuple(desc for desc, _data in blobs)
        self._blobs = {blob_path(desc.digest): data for desc, data in blobs}

    def open(self, path: str) -> IO[bytes]:
        """A blob's bytes."""
        return io.BytesIO(self._blobs[path])

    def close(self) -> None:
        """Nothing is held open."""


def sbom_manifest(subject: Descriptor, sbom: bytes, title: str) -> tuple[bytes, BlobsInMemory]:
    """The referrer manifest of ``sbom`` about ``subject``, and its blobs (no timestamps: reproducible)."""
    layer = Descriptor(SBOM_TYPE, sha256_digest(sbom), len(sbom), annotations={_TITLE: title})
    doc = {"schemaVersion": 2, "mediaType": MANIFEST, "artifactType": SBOM_TYPE, "config": EMPTY_CONFIG.doc(),
           "layers": [layer.doc()], "subject": Descriptor(subject.media_type, subject.digest, subject.size).doc()}
    return canonical_json(doc), BlobsInMemory(title, [(EMPTY_CONFIG, b"{}"), (layer, sbom)])


def fallback_tag(subject: Descriptor) -> str:
    """The tag that lists a manifest's referrers where the registry has no referrers API."""
    return "sha256-" + subject.digest.split(":", 1)[1]


def with_referrer(existing: Optional[bytes], referrer: bytes, where: str) -> Optional[bytes]:
    """The fallback tag's index with ``referrer`` listed (None when it already is)."""
    doc: dict[str, Any] = parse_document(existing, where) if existing else \
        {"schemaVersion": 2, "mediaType": INDEX, "manifests": []}
    listed = doc.get("manifests")
    manifests: list[Any] = listed if isinstance(listed, list) else []
    digest = sha256_digest(referrer)
    if any(isinstance(m, dict) and m.get("digest") == digest for m in manifests):
        return None
    entry = {"mediaType": MANIFEST, "digest": digest, "size": len(referrer), "artifactType": SBOM_TYPE}
    return canonical_json({**doc, "manifests": [*manifests, entry]})
