"""A CycloneDX 1.6 JSON SBOM of an archive: its conda packages and pip distributions.

The document is a pure function of the environment's records, the files packed and
the archive's digest: components sorted by purl, the timestamp the archive's members
carry (``SOURCE_DATE_EPOCH`` or condapack's fixed date), and a serial number derived
from the content, so the same archive always gets the same bytes.
"""

from __future__ import annotations

import email.parser
import hashlib
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any, Iterable, Optional
from urllib.parse import quote

from ._version import __version__
from .members import archive_mtime
from .output import write_if_changed
from .prefix import File
from .records import PackageRecord

__all__ = ["SBOM_SUFFIX", "sbom_path", "render_sbom", "write_sbom"]

SBOM_SUFFIX = ".cdx.json"
Doc = dict[str, Any]
_DIST_INFO = re.compile(r"lib/python[^/]+/site-packages/([^/]+)\.(dist-info/METADATA|egg-info/PKG-INFO)")


def sbom_path(output: Path) -> Path:
    """Where the SBOM of an archive goes: beside it, ``NAME.cdx.json``."""
    return output.with_name(output.name + SBOM_SUFFIX)


def _purl_part(text: str) -> str:
    return quote(text, safe=".-_+")


def _conda_component(record: PackageRecord) -> Doc:
    package = record.identity
    qualifiers = {"build": package.build, "channel": package.channel, "subdir": record.subdir}
    query = "&".join(f"{k}={_purl_part(v)}" for k, v in sorted(qualifiers.items()) if v)
    purl = f"pkg:conda/{_purl_part(package.name)}@{_purl_part(package.version)}" + (f"?{query}" if query else "")
    hashes = []
    if len(package.sha256) == 64 and package.sha256 != record.md5:
        hashes.append({"alg": "SHA-256", "content": package.sha256})
    if len(record.md5) == 32:
        hashes.append({"alg": "MD5", "content": record.md5})
    component: Doc = {"type": "library", "bom-ref": purl, "name": package.name, "version": package.version,
                      "purl": purl}
    if hashes:
        component["hashes"] = hashes
    if record.license:
        component["licenses"] = [{"license": {"name": record.license}}]
    return component


def _pip_component(metadata: bytes) -> Optional[Doc]:
    headers = email.parser.BytesParser().parsebytes(metadata, headersonly=True)
    name, version = headers.get("Name"), headers.get("Version")
    if not name or not version:
        return None
    normalized = re.sub(r"[-_.]+", "-", str(name)).lower()
    purl = f"pkg:pypi/{_purl_part(normalized)}@{_purl_part(str(version))}"
    component: Doc = {"type": "library", "bom-ref": purl, "name": str(name), "version": str(version),
                      "purl": purl}
    license = headers.get("License-Expression") or headers.get("License")
    if license and len(str(license)) < 200:  # some projects paste the whole license text here
        component["licenses"] = [{"license": {"name": str(license).strip()}}]
    return component


def _pip_components(files: Iterable[File]) -> list[Doc]:
    """Distributions pip installed: dist-info/egg-info metadata no conda package owns."""
    found = []
    for file in files:
        if file.is_conda or file.kind != "file" or not _DIST_INFO.fullmatch(file.target):
            continue
        component = _pip_component(Path(file.source).read_bytes())
        if component is not None:
            found.append(component)
    return found


def render_sbom(packages: Iterable[PackageRecord], files: Iterable[File], archive: Path, sha256: str) -> bytes:
    """The SBOM of ``archive`` (sha256 given) packed from these records and files."""
    components = {c["bom-ref"]: c for c in [*map(_conda_component, packages), *_pip_components(files)]}
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(archive_mtime()))
    doc: Doc = {
        "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
        "metadata": {
            "timestamp": stamp,
            "tools": {"components": [{"type": "application", "name": "condapack", "version": __version__}]},
            "component": {"type": "file", "bom-ref": "archive", "name": archive.name,
                          "hashes": [{"alg": "SHA-256", "content": sha256}]},
        },
        "components": [components[ref] for ref in sorted(components)],
    }
    body = json.dumps(doc, sort_keys=True).encode()
    doc["serialNumber"] = uuid.UUID(bytes=hashlib.sha256(body).digest()[:16], version=5).urn
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def write_sbom(packages: Iterable[PackageRecord], files: Iterable[File], archive: Path, sha256: str,
               path: Optional[Path] = None) -> Path:
    """Write the SBOM of ``archive`` beside it (or at ``path``), unless it is unchanged."""
    path = path or sbom_path(archive)
    write_if_changed(path, render_sbom(packages, files, archive, sha256))
    return path
